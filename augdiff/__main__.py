from augdiff.cli import main

main()
