// Finding the local appliance without configuration: --hub / $LOCKSTEP_HUB first; otherwise the
// installed configuration (/etc/lockstep/lockstepd.yaml, or $LOCKSTEP_CONFIG) gives the HTTP port,
// and, when this user may read it (root, or the lockstep group), the operator token, and https when
// it sets tls_certificate; otherwise http://127.0.0.1:8750.
import Foundation
import Yams

struct LocalHub: Equatable {
    var url: String
    var token: String?

    static let defaultConfigPath = "/etc/lockstep/lockstepd.yaml"

    /// What the CLI talks to, from the flags, the environment and the installed configuration.
    static func resolve(hubFlag: String?, tokenFlag: String?, environment: [String: String] = ProcessInfo.processInfo.environment) -> LocalHub {
        let config = (try? String(contentsOfFile: environment["LOCKSTEP_CONFIG"] ?? defaultConfigPath, encoding: .utf8))
            .flatMap { try? Yams.load(yaml: $0) as? [String: Any] } ?? [:]
        let url = hubFlag ?? environment["LOCKSTEP_HUB"] ?? fromConfig(config)
        let token = tokenFlag ?? environment["LOCKSTEP_OPERATOR_TOKEN"] ?? (config["operator_token"] as? String)
        return LocalHub(url: url, token: token.flatMap { $0.isEmpty ? nil : $0 })
    }

    /// The loopback URL of the hub a configuration describes (a hub bound to every address, or to
    /// loopback, is reached on 127.0.0.1; one bound to a single address on that address).
    static func fromConfig(_ config: [String: Any]) -> String {
        let port = config["http_port"] as? Int ?? 8750
        let bind = config["bind"] as? String ?? "127.0.0.1"
        let host = bind == "0.0.0.0" || bind.hasPrefix("127.") ? "127.0.0.1" : bind
        let scheme = config["tls_certificate"] == nil ? "http" : "https"
        return "\(scheme)://\(host):\(port)"
    }
}
