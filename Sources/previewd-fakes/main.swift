import Foundation

exit(await FakesCommand.main(arguments: Array(CommandLine.arguments.dropFirst())))
