"""`python -m sample_data.runaway_agent`: the runaway agent (see `agent`)."""

import sys

from sample_data.runaway_agent.agent import main

sys.exit(main())
