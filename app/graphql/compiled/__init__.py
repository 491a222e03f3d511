"""The compiled path: a query document is planned once, and each request then costs one
SQL statement and a pass of precompiled shaping functions over its row.

`compile_operation` walks the operation's selection (fragments, aliases, `@include`/`@skip` and
`__typename` resolved) against the schema and the reads declared beside each strawberry type
(`app/graphql/types/*`: `LEAD_READS`, ...). It answers None for anything it does not cover, and
the request then goes through strawberry as usual, so correctness never depends on this path. A
root field whose arguments a service would refuse (`first: 1000`, a bad cursor) also sends the
request to strawberry, which answers with the service's own error.
"""

from app.graphql.compiled.codegen import Unsupported
from app.graphql.compiled.operations import CompiledOperation, LeadMutation, compile_operation

__all__ = ["CompiledOperation", "LeadMutation", "Unsupported", "compile_operation"]
