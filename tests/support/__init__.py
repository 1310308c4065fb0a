"""What the tests share that bench/ does not (bench's and the tests' shared harness is
`sample_data.harness`): real clients and stand-ins (`otlp_clients`, `openai_stub`,
`instrumented_app`, `acking_client`), running stacks (`sample_stack`, `ops_stack`,
`demo_process`), generated inputs (`genai_spans`, `gpu_series`, `fuzzing`), shared checks
(`alerts_scope`) and the checkout's paths (`paths`).
"""
