# A software stack whose release is missing: sourced by the broken kernel's launcher.
echo "site check stack: release 1999 is not installed" >&2
return 1
