from ray_platform.cli import main

main()
