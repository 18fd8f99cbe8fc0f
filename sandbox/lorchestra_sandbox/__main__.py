"""``lorchestra-sandbox``: serve every provider sandbox on consecutive loopback ports."""

from __future__ import annotations

import argparse
import contextlib
import importlib
import signal
import threading

from lorchestra_sandbox.core import serve

#: provider -> (module, port offset from --port-base). The ports are stable so meltano.yml can name them.
PROVIDERS: dict[str, tuple[str, int]] = {
    "gmail": ("lorchestra_sandbox.gmail", 1),
    "exchange": ("lorchestra_sandbox.graph", 2),
    "dataverse": ("lorchestra_sandbox.dataverse", 3),
    "google_forms": ("lorchestra_sandbox.forms", 4),
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--port-base", type=int, default=8700)
    parser.add_argument("--only", action="append", choices=sorted(PROVIDERS), help="serve only these")
    args = parser.parse_args()
    running = []
    for provider, (module, offset) in PROVIDERS.items():
        if args.only and provider not in args.only:
            continue
        app = importlib.import_module(module).create_app()
        running.append(serve(app, port=args.port_base + offset))
        print(f"{provider}: {running[-1].url}", flush=True)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    with contextlib.suppress(KeyboardInterrupt):
        stop.wait()
    for r in running:
        r.stop()


if __name__ == "__main__":
    main()
