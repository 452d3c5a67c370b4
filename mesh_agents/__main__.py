from mesh_agents.cli.main import main

main()
