"""Types of the compiled literal-shape scan (gateway/mysql/_shape.c; see
gateway.mysql.dialect.guardrails.plain_shape)."""

def plain_shape_utf8(data: bytes, /) -> bytes | None: ...
