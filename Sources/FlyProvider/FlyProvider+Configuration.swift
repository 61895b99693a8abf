import Foundation

extension FlyProvider {
    /// Options of the Fly.io provider; ``init(environment:)`` reads them from `FLY_*` variables.
    public struct Configuration: Sendable, CustomStringConvertible, CustomReflectable {
        public static let defaultAPIURL = "https://api.machines.dev"
        public static let defaultOrganization = "personal"
        public static let defaultRegion = "iad"
        public static let defaultFallbackRegions = ["ewr", "ord"]
        /// Where a booted app answers; `{app}` is replaced by the app name.
        public static let defaultPreviewURLTemplate = "https://{app}.fly.dev"

        /// The Machines API host (`FLY_API_URL`); calls go to `<apiURL>/v1/...`.
        public var apiURL: String
        /// `FLY_API_TOKEN`, sent as `Authorization: Bearer`. Never logged, never in an error.
        public var token: String
        /// `FLY_ORG`: the organization slug apps are created in.
        public var org: String
        /// `FLY_REGION`: where machines go unless the plan names a region.
        public var defaultRegion: String
        /// `FLY_FALLBACK_REGIONS`: tried in order when a region reports `insufficient_capacity`.
        public var fallbackRegions: [String]
        /// How long `boot` waits for a machine to reach `started` (`FLY_WAIT_TIMEOUT`, seconds).
        public var waitTimeout: Duration
        /// How long `boot` keeps trying the preview URL after the machine started (`FLY_HEALTH_TIMEOUT`, seconds).
        public var healthTimeout: Duration
        /// Pause between health-check attempts.
        public var healthInterval: Duration
        /// The preview URL, `{app}` standing for the app name; tests point it at a fake.
        public var previewURLTemplate: String
        /// Retries after a 5xx, 429 or lost response (so up to `maxRetries + 1` attempts per call).
        public var maxRetries: Int
        /// First backoff; doubles per retry up to `retryMaxDelay`. A `Retry-After` on 429 wins.
        public var retryBaseDelay: Duration
        public var retryMaxDelay: Duration
        /// Upper bound of one ordinary API exchange (the `/wait` long poll gets its own).
        public var requestTimeout: Duration
        /// Stock images per stack, for plans without an image (see ``FlyRuntimeImage``).
        public var stackImages: [String: String]
        /// How many app names to try when others hold them.
        public var maxNameAttempts: Int

        public init(
            apiURL: String = Configuration.defaultAPIURL,
            token: String,
            org: String = Configuration.defaultOrganization,
            defaultRegion: String = Configuration.defaultRegion,
            fallbackRegions: [String] = Configuration.defaultFallbackRegions,
            waitTimeout: Duration = .seconds(300),
            healthTimeout: Duration = .seconds(120),
            healthInterval: Duration = .seconds(5),
            previewURLTemplate: String = Configuration.defaultPreviewURLTemplate,
            maxRetries: Int = 3,
            retryBaseDelay: Duration = .seconds(1),
            retryMaxDelay: Duration = .seconds(30),
            requestTimeout: Duration = .seconds(30),
            stackImages: [String: String] = FlyRuntimeImage.defaultStackImages,
            maxNameAttempts: Int = 5
        ) {
            self.apiURL = apiURL
            self.token = token
            self.org = org
            self.defaultRegion = defaultRegion
            self.fallbackRegions = fallbackRegions
            self.waitTimeout = waitTimeout
            self.healthTimeout = healthTimeout
            self.healthInterval = healthInterval
            self.previewURLTemplate = previewURLTemplate
            self.maxRetries = maxRetries
            self.retryBaseDelay = retryBaseDelay
            self.retryMaxDelay = retryMaxDelay
            self.requestTimeout = requestTimeout
            self.stackImages = stackImages
            self.maxNameAttempts = maxNameAttempts
        }

        /// Reads `FLY_API_TOKEN` (required), `FLY_API_URL`, `FLY_ORG`, `FLY_REGION`, `FLY_FALLBACK_REGIONS`
        /// (comma-separated), `FLY_WAIT_TIMEOUT` and `FLY_HEALTH_TIMEOUT` (seconds).
        public init(environment: [String: String]) throws {
            func value(_ name: String) -> String? {
                guard let raw = environment[name]?.trimmingCharacters(in: .whitespacesAndNewlines), !raw.isEmpty else { return nil }
                return raw
            }
            func seconds(_ name: String, default fallback: Duration) throws -> Duration {
                guard let raw = value(name) else { return fallback }
                guard let number = Int(raw), number > 0 else {
                    throw FlyConfigurationError.invalid(variable: name, reason: "'\(raw)' is not a positive number of seconds")
                }
                return .seconds(number)
            }
            guard let token = value("FLY_API_TOKEN") else { throw FlyConfigurationError.missing(variable: "FLY_API_TOKEN") }
            let apiURL = value("FLY_API_URL") ?? Configuration.defaultAPIURL
            guard let url = URL(string: apiURL), ["http", "https"].contains(url.scheme ?? ""), url.host != nil else {
                throw FlyConfigurationError.invalid(variable: "FLY_API_URL", reason: "'\(apiURL)' is not an http(s) URL")
            }
            let fallback = value("FLY_FALLBACK_REGIONS").map {
                $0.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces).lowercased() }.filter { !$0.isEmpty }
            }
            self.init(
                apiURL: apiURL, token: token, org: value("FLY_ORG") ?? Configuration.defaultOrganization,
                defaultRegion: value("FLY_REGION")?.lowercased() ?? Configuration.defaultRegion,
                fallbackRegions: fallback ?? Configuration.defaultFallbackRegions,
                waitTimeout: try seconds("FLY_WAIT_TIMEOUT", default: .seconds(300)),
                healthTimeout: try seconds("FLY_HEALTH_TIMEOUT", default: .seconds(120)))
        }

        /// The preview URL of `app`.
        public func previewURL(app: String) -> String {
            previewURLTemplate.replacingOccurrences(of: "{app}", with: app)
        }

        public var description: String {
            "FlyProvider.Configuration(apiURL: \(apiURL), token: [redacted], org: \(org), region: \(defaultRegion), fallbackRegions: \(fallbackRegions))"
        }

        /// Keeps the token out of `dump` and debugger output.
        public var customMirror: Mirror {
            Mirror(self, children: [
                "apiURL": apiURL, "token": "[redacted]", "org": org, "defaultRegion": defaultRegion,
                "fallbackRegions": fallbackRegions, "waitTimeout": waitTimeout, "healthTimeout": healthTimeout,
            ])
        }
    }
}
