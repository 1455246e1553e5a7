"""The Gemini Developer API's Batch dialect: config, wire shapes, create-body checks,
rules and the Files API's upload sessions. The dialect object that ties them together
is :class:`~batchport_emulator.dialects.gemini.GeminiDialect`."""
