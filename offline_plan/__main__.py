from offline_plan.cli import main

raise SystemExit(main())
