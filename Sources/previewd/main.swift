import Foundation
import PreviewdApp

exit(await Previewd.main(arguments: Array(CommandLine.arguments.dropFirst())))
