"""A server with TLS: kernels trust exactly its certificate, for any host name."""

from __future__ import annotations

import datetime
import ipaddress
import json
import textwrap
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from tests.kernel.conftest import PRELUDE
from tests.support.jupyter_process import JupyterServerProcess, run_cell
from tests.support.provider import OIDCTestProvider
from tests.support.resource_server import ResourceServer


def self_signed(directory: Path) -> tuple[Path, Path]:
    """A certificate and key for 127.0.0.1 with the extensions `openssl req -x509` adds."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = datetime.datetime.now(datetime.timezone.utc)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(key.public_key()), critical=False
        )
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
            critical=False,
        )
        .sign(key, hashes.SHA256())
    )
    certfile, keyfile = directory / "server.pem", directory / "server.key"
    certfile.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    keyfile.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return certfile, keyfile


def test_a_real_server_with_tls_a_random_port_and_a_base_url(
    tmp_path: Path, oidc_provider: OIDCTestProvider, resource_server: ResourceServer, username
):
    certfile, keyfile = self_signed(tmp_path)
    client = oidc_provider.add_client(["https://127.0.0.1/placeholder"])
    nevis = client.nevis_settings(oidc_provider.issuer)
    server = JupyterServerProcess(
        tmp_path, {"NevisAuth": nevis}, base_url="/user/ada/", certfile=certfile, keyfile=keyfile
    )
    with server:
        oidc_provider.add_client(
            [server.url + "nevis/callback"],
            client_id=client.client_id,
            client_secret=client.client_secret,
        )
        with server.kernel() as kernel:
            signed_out = run_cell(
                kernel,
                PRELUDE
                + textwrap.dedent("""
                try:
                    get_access_token()
                except LoginRequiredError as e:
                    print(e.login_url)
            """),
            )
            server.sign_in(username)
            values = json.loads(
                run_cell(
                    kernel,
                    textwrap.dedent(f"""
                import warnings
                warnings.simplefilter("error")
                hello = {resource_server.hello_url!r}
                response = requests.get(hello, auth=BearerAuth(), timeout=10)
                out(url=os.environ["NEVIS_AUTH_KERNEL_URL"], ca=os.environ["NEVIS_AUTH_KERNEL_CA"],
                    code=response.status_code, sub=response.json()["sub"])
            """),
                )
            )

    assert signed_out.strip() == "/user/ada/nevis/login"
    assert server.port != 8888
    assert values == {
        "url": f"https://127.0.0.1:{server.port}/user/ada/nevis/api/token",
        "ca": str(certfile),
        "code": 200,
        "sub": username,
    }
