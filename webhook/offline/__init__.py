"""Policy as code: `edgeguard review` and `edgeguard test` over files, with the same engine."""
