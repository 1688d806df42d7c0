import FMSCommand

await FMSCommandLine.main()
