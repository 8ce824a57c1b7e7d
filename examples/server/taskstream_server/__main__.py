"""``python -m taskstream_server``: the same as the ``taskstream-server`` command."""

from .cli import main

raise SystemExit(main())
