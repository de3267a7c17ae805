from eventchain.cli import main

main(prog_name="eventchain")
