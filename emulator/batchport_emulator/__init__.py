"""batchport_emulator: a local server that speaks the OpenAI and Azure OpenAI
Files and Batch APIs, for offline development and testing."""
