#!/bin/sh
# only the image has this file; the uid must be the submitter's
echo "image=$(cat /etc/sitehub-image)"
echo "uid=$(id -u)"
