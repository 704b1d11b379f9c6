"""python -m v23py.cmd.principal"""
from v23py.cmd.principal import main

main()
