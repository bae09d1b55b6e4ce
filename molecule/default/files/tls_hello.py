"""HTTPS server on :8443 that answers GET with this host's name (verify only)."""

import http.server
import socket
import ssl

CERT_DIR = "/run/sitehub-verify"


class Hello(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        body = socket.gethostname().encode()
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


server = http.server.HTTPServer(("", 8443), Hello)
context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
context.load_cert_chain(f"{CERT_DIR}/server.crt", f"{CERT_DIR}/server.key")
server.socket = context.wrap_socket(server.socket, server_side=True)
server.serve_forever()
