from dgov.cli import main

main()
