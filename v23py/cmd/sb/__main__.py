from v23py.cmd.sb import main

main()
