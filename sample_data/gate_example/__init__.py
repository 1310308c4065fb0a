"""A small product and its test suite, for the CI cost gate (docs/gate.md).

`app` answers support tickets with the `openai` client; `model_stub` stands in for the
OpenAI API on loopback and bills what a real model would (input tokens from the prompt's
length, a varying answer length, cache reads for the repeated system prompt); `test_app` is
the suite a CI job runs under `spendscope gate record`, with OpenLLMetry instrumenting the
client. `GATE_EXAMPLE_CHANGE` plays a pull request: `double-prompt` sends the policy text
twice, `cheaper-model` answers with gpt-4o-mini.
"""
