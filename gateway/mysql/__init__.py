"""The MySQL listener: its sans-IO codec (:mod:`gateway.mysql.wire`), its dialect
(:mod:`gateway.mysql.dialect`) and the thin asyncio adapter that serves ``type = "mysql"``
connections on the session core (:mod:`gateway.sessions`)."""
