import PreviewModel

/// What a preview machine runs.
///
/// The Machines API runs images; it cannot build one. `fly deploy` builds Dockerfiles on Fly's remote builder,
/// which flyctl drives and the Machines API does not offer. So a preview runs either `plan.image` (an image
/// built and pushed elsewhere, named in fly.toml or `.github/preview.yml`), or a stock runtime image for the
/// stack whose entrypoint is a shell script: it fetches `REPO_URL` at `SHA`, then runs the install, build and
/// start commands inside the machine. A plan with only a Dockerfile and no image cannot run on Fly.
public struct FlyRuntimeImage: Sendable, Equatable {
    /// The image reference.
    public var image: String
    /// `nil` when the image is the app itself; otherwise the clone-install-build-start script.
    public var script: String?

    /// Stock images per stack (Debian-based, so `git` and `sh` are there). Keys match `PreviewPlan.projectType`
    /// or its first dash-separated word (`python-django` → `python`).
    public static let defaultStackImages: [String: String] = [
        "node": "node:20-bookworm",
        "nextjs": "node:20-bookworm",
        "vite": "node:20-bookworm",
        "static": "node:20-bookworm",
        "python": "python:3.12-bookworm",
        "go": "golang:1.22-bookworm",
        "ruby": "ruby:3.3-bookworm",
        "rails": "ruby:3.3-bookworm",
        "php": "php:8.3-cli-bookworm",
    ]

    /// The environment variable the script reads a clone token from; an app secret, never in the machine config.
    public static let gitTokenSecret = "PREVIEWD_GIT_TOKEN"

    /// Decides what `plan` runs as, or explains why it cannot run on Fly.
    public static func resolve(_ plan: PreviewPlan, stackImages: [String: String]) throws -> FlyRuntimeImage {
        if let image = plan.image, !image.isEmpty { return FlyRuntimeImage(image: image, script: nil) }
        let type = plan.projectType.lowercased()
        if type == "dockerfile" || (plan.dockerfile != nil && plan.startCommand == nil) {
            throw FlyError.invalidInput(
                "Fly.io previews need a prebuilt image: the Machines API cannot build a Dockerfile (that needs Fly's remote builder). "
                    + "Push the image to a registry and set `image` in .github/preview.yml (or fly.toml's [build] image)")
        }
        let family = type.split(separator: "-").first.map(String.init) ?? type
        guard let image = stackImages[type] ?? stackImages[family] else {
            throw FlyError.invalidInput("no Fly.io runtime image is known for the '\(plan.projectType)' stack; set `image` in .github/preview.yml")
        }
        guard plan.startCommand?.isEmpty == false else {
            throw FlyError.invalidInput("no start command was detected for the '\(plan.projectType)' stack; set `start` in .github/preview.yml")
        }
        return FlyRuntimeImage(image: image, script: bootScript)
    }

    /// Runs as `sh -c`; every input comes from the environment, so the script itself never changes per preview.
    /// `git fetch` by SHA works on GitHub and also reaches fork pull-request heads that a clone would miss.
    public static let bootScript = """
        set -eu
        rm -rf /srv/preview && mkdir -p /srv/preview && cd /srv/preview
        git init -q .
        git remote add origin "$REPO_URL"
        if [ -n "${PREVIEWD_GIT_TOKEN:-}" ]; then
          auth="$(printf 'x-access-token:%s' "$PREVIEWD_GIT_TOKEN" | base64 | tr -d '\\n')"
          git -c http.extraHeader="Authorization: Basic $auth" fetch -q --depth 1 origin "$SHA"
        else
          git fetch -q --depth 1 origin "$SHA"
        fi
        git checkout -q FETCH_HEAD
        cd "${APP_ROOT:-.}"
        echo "previewd: checked out $SHA"
        if [ -n "${INSTALL_COMMAND:-}" ]; then echo "previewd: install"; sh -c "$INSTALL_COMMAND"; fi
        if [ -n "${BUILD_COMMAND:-}" ]; then echo "previewd: build"; sh -c "$BUILD_COMMAND"; fi
        echo "previewd: start"
        exec sh -c "$START_COMMAND"
        """
}
