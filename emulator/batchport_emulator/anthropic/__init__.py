"""Anthropic's Message Batches and Messages API: config, wire shapes, create-time checks
and rules. The dialect object that ties them together is
:class:`~batchport_emulator.dialects.anthropic.AnthropicDialect`."""
