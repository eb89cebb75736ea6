"""What a stored image costs in CPU on Azure beyond what the devhost measures.

``bench/crawl_throughput.py`` measures the devhost's CPU per stored image on the bench corpus
(JPEG/PNG of 20-300 KB, at most 1,024 px, ~85 KB on average), over plain HTTP to a local
source and to the emulators. On Azure two things differ, and this script measures both on
this machine, each in this process alone (``time.process_time``):

1. **larger images**: the fast checks (``shared.imaging.inspect_image``: sha256, a draft
   decode, the hashes) over the corpus' JPEGs as they are, then over the same images at twice
   the width and height (re-encoded at quality 90: ~4x the bytes), so the CPU per KB of JPEG
   between the two sizes;
2. **TLS**: a client's full handshake (TLS 1.3, an RSA-2048 certificate verified, as Python's
   ``ssl`` does for aiohttp and the Azure SDKs) against ``openssl s_server`` in another
   process, and the CPU per byte of reading a body over TLS minus over plain TCP (AES-GCM
   and the ssl module's copies).

    .venv/bin/python bench/cpu_per_image.py [--images 300] [--handshakes 300]

``bench/scale_model.py`` takes these figures as inputs (its ``--check-us-per-kb``,
``--tls-handshake-ms``, ``--tls-ns-per-byte``).
"""

from __future__ import annotations

import argparse
import io
import socket
import ssl
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from PIL import Image  # noqa: E402

from scripts.demo_source import build_catalogue  # noqa: E402
from scripts.stack import free_port  # noqa: E402
from shared.imaging import Rejection, inspect_image  # noqa: E402
from shared.models import ValidationRules  # noqa: E402

#: The corpus of bench/crawl_throughput.py (the same cache, seed and labels).
CATALOGUE = ROOT / ".local" / "bench-catalogue"
LABELS = ["cat", "dog", "bird", "fish", "horse", "tree"]
SEED = 11
BODY_BYTES = 8 * 1024 * 1024


def corpus_jpegs(count: int) -> list[bytes]:
    """``count`` JPEGs of the bench corpus (rendered into the cache on first use)."""
    per_label = max(1, -(-count * 4 // (3 * len(LABELS))))  # 3 in 4 images are JPEGs
    build_catalogue(CATALOGUE, LABELS, per_label, seed=SEED)
    root = CATALOGUE / "v1" / f"seed{SEED}"
    jpegs = []
    for label in LABELS:
        for path in sorted((root / label).glob("*.img"))[:per_label]:
            data = path.read_bytes()
            if data[:2] == b"\xff\xd8":
                jpegs.append(data)
    return jpegs[:count]


def doubled(data: bytes) -> bytes:
    """The image at twice its width and height, re-encoded as JPEG at quality 90."""
    image = Image.open(io.BytesIO(data)).convert("RGB")
    image = image.resize((image.width * 2, image.height * 2), Image.Resampling.BICUBIC)
    out = io.BytesIO()
    image.save(out, "JPEG", quality=90)
    return out.getvalue()


def check_cost(images: list[bytes], repeat: int = 3) -> tuple[float, float]:
    """(mean KB, mean CPU ms of inspect_image) over ``images``."""
    rules = ValidationRules()
    cpu = 0.0
    for data in images:
        start = time.process_time()
        for _ in range(repeat):
            result = inspect_image(data, rules)
        cpu += (time.process_time() - start) / repeat
        assert not isinstance(result, Rejection), result
    return sum(map(len, images)) / len(images) / 1024, 1000 * cpu / len(images)


def _connect(port: int, attempts: int = 100) -> socket.socket:
    for _ in range(attempts):
        try:
            return socket.create_connection(("127.0.0.1", port))
        except ConnectionRefusedError:
            time.sleep(0.05)
    raise RuntimeError(f"nothing listens on 127.0.0.1:{port}")


def _read_all(sock: socket.socket | ssl.SSLSocket, request: bytes) -> int:
    sock.sendall(request)
    buffer = bytearray(64 * 1024)
    total = 0
    while True:
        n = sock.recv_into(buffer)
        if not n:
            return total
        total += n


def tls_cost(handshakes: int, bodies: int) -> tuple[float, float]:
    """(client CPU ms per full handshake, client CPU ns per byte read over TLS beyond plain TCP)."""
    with tempfile.TemporaryDirectory(prefix="pixcrawler-tls-") as tmp:
        cert, key = Path(tmp) / "cert.pem", Path(tmp) / "key.pem"
        subprocess.run(
            ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", str(key),
             "-out", str(cert), "-days", "1", "-subj", "/CN=127.0.0.1",
             "-addext", "subjectAltName=IP:127.0.0.1"],
            check=True, capture_output=True,
        )  # fmt: skip
        (Path(tmp) / "body").write_bytes(bytes(range(256)) * (BODY_BYTES // 256))
        tls_port, plain_port = free_port(), free_port()
        servers = [
            subprocess.Popen(
                ["openssl", "s_server", "-accept", str(tls_port), "-cert", str(cert), "-key", str(key),
                 "-WWW", "-quiet"],
                cwd=tmp, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
            ),
            subprocess.Popen(
                [sys.executable, "-m", "http.server", str(plain_port), "--bind", "127.0.0.1"],
                cwd=tmp, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
            ),
        ]  # fmt: skip
        try:
            context = ssl.create_default_context(cafile=str(cert))
            _connect(tls_port).close()
            _connect(plain_port).close()
            start = time.process_time()
            for _ in range(handshakes):
                with context.wrap_socket(_connect(tls_port), server_hostname="127.0.0.1"):
                    pass
            handshake = (time.process_time() - start) / handshakes
            request = b"GET /body HTTP/1.0\r\n\r\n"
            start = time.process_time()
            read = 0
            for _ in range(bodies):
                with context.wrap_socket(_connect(tls_port), server_hostname="127.0.0.1") as sock:
                    read += _read_all(sock, request)
            tls = (time.process_time() - start - bodies * handshake) / read
            start = time.process_time()
            read = 0
            for _ in range(bodies):
                with _connect(plain_port) as sock:
                    read += _read_all(sock, request)
            plain = (time.process_time() - start) / read
        finally:
            for server in servers:
                server.terminate()
                server.wait(timeout=10)
    return 1000 * handshake, 1e9 * (tls - plain)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--images", type=int, default=300, help="corpus JPEGs to check")
    parser.add_argument("--handshakes", type=int, default=300)
    parser.add_argument("--bodies", type=int, default=20, help=f"bodies of {BODY_BYTES >> 20} MiB read")
    args = parser.parse_args(argv)
    images = corpus_jpegs(args.images)
    kb, ms = check_cost(images)
    big_kb, big_ms = check_cost([doubled(data) for data in images])
    slope = 1000 * (big_ms - ms) / (big_kb - kb)
    print(f"fast checks, {len(images)} corpus JPEGs: {kb:.0f} KB, {ms:.2f} CPU ms each; at 2x width and "
          f"height: {big_kb:.0f} KB, {big_ms:.2f} ms; {slope:.1f} CPU us per KB between them")
    handshake, per_byte = tls_cost(args.handshakes, args.bodies)
    print(f"TLS client: {handshake:.2f} CPU ms per full handshake (TLS 1.3, RSA-2048, verified); "
          f"{per_byte:.2f} CPU ns per byte read beyond plain TCP ({per_byte * 250 * 1024 / 1e6:.2f} ms "
          f"per 250 KB)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
