from convseq.cli.main import main

raise SystemExit(main())
