"""`ussl.wrap_socket` for umqtt.simple on ports that only have `tls`: verify the broker's cert."""

import tls


def wrap_socket(sock, cadata=None, server_hostname=None):
    ctx = tls.SSLContext(tls.PROTOCOL_TLS_CLIENT)
    if cadata is not None:
        ctx.load_verify_locations(cadata)  # PEM or DER; positional on MicroPython
        ctx.verify_mode = tls.CERT_REQUIRED
    return ctx.wrap_socket(sock, server_hostname=server_hostname)
