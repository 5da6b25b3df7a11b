from xtimer_deploy.cli import main

main()
