"""What the tests share that bench/ does not (bench's and the tests' shared harness is
`sample_data.harness`): real clients and stand-ins (`otlp_clients`, `recording`, `openai_stub`,
`provider_stub`, `admin_api_stub`, `instrumented_app`, `instrumented_calls`, `acking_client`),
running stacks (`sample_stack`, `ops_stack`, `demo_process`), generated inputs (`genai_spans`,
`scenarios`, `gpu_series`, `fuzzing`), shared checks (`alerts_scope`), the checkout's paths
(`paths`) and its lock files and venvs (`venvs`).
"""
