from hidsctl.cli import main

main()
