import Foundation
import HTTPServer
import PreviewdCore
import PreviewdLogging

/// The `previewd` executable's entry point: parses the command line and runs the command.
public enum Previewd {
    /// Runs `arguments` (without the program name) and returns the exit status.
    public static func main(arguments: [String]) async -> Int32 {
        let command: PreviewdCommand
        do {
            command = try CommandLineInterface.parse(arguments)
        } catch {
            FileHandle.standardError.write(Data("previewd: \(error)\n".utf8))
            return 64
        }
        switch command {
        case .help:
            print(CommandLineInterface.usage)
            return 0
        case .version:
            print("previewd \(PreviewdVersion.current)")
            return 0
        case .serve, .migrate, .redeliver, .sessions, .logs:
            break
        }
        let configuration: PreviewdConfiguration
        do {
            configuration = try PreviewdConfiguration.loadFromEnvironment().withStoredGitHubApp()
        } catch {
            FileHandle.standardError.write(Data("previewd: configuration error: \(error)\n".utf8))
            return 78
        }
        let logger = Logger(level: configuration.logLevel)
        let application = Application(configuration: configuration, logger: logger)
        switch command {
        case .sessions(let options): return await application.printSessions(options)
        case .logs(let session, let step): return await application.printLog(session: session, step: step)
        default: break
        }
        do {
            if command == .migrate {
                try await application.runMigrations()
                return 0
            }
            if case .redeliver(let options) = command {
                return await application.runRedeliver(options) { print($0, terminator: "") }
            }
            let signals = ShutdownSignal()
            logger.info("starting previewd", configuration.redactedSummary)
            try await application.start()
            let signal = await signals.wait()
            logger.info("signal received", ["signal": "\(signal ?? 0)"])
            await application.shutdown()
            return 0
        } catch {
            logger.error("previewd stopped with an error", ["error": "\(error)"])
            return 1
        }
    }
}
