#!/bin/bash
# The image's HEALTHCHECK: exits 0 when GET http://127.0.0.1:PORT/PATH answers 200, 1 otherwise.
# Plain bash (/dev/tcp) so the runtime image needs no curl.
#   onnxd-healthcheck [PORT (8000)] [PATH (/v2/health/ready)]
port="${1:-8000}"
path="${2:-/v2/health/ready}"
exec 3<>"/dev/tcp/127.0.0.1/${port}" 2>/dev/null || exit 1
printf 'GET %s HTTP/1.1\r\nHost: 127.0.0.1:%s\r\nConnection: close\r\n\r\n' "$path" "$port" >&3
IFS= read -r -t 5 status_line <&3 || exit 1
[[ "$status_line" =~ ^HTTP/1\.[01]\ 200[\ $'\r'] ]] || exit 1
