#!/bin/sh
# where and as whom the job ran
echo "node=$(hostname)"
echo "uid=$(id -u)"
