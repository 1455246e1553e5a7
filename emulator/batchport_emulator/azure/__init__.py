"""Azure OpenAI global batch: the rules the Azure dialect enforces beyond its wire format.

The wire format (routes, auth headers, error bodies, object and result-line shapes)
lives in :mod:`batchport_emulator.dialects.azure`. This package holds what Azure does
differently in behaviour: :class:`~.rules.AzureRules` (the dialect's rules object:
deployments and their enqueued-token quota, pending uploads, deadlines, the empty error
file), input-file validation with Azure's codes (:mod:`.checks`), bearer
token validators (:mod:`.auth`) and the ``azure`` section of the config
(:mod:`.config`). Nothing here imports aiohttp.
"""
