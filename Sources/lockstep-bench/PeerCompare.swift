// `lockstep-bench sync --netns --compare chrony,ptp4l,lsl`: the well-known peers measured on the same
// link, under the same load, at the same time as Lockstep. scripts/sync-peers.py runs each peer's
// server in the hub's namespace and its client in the devices' namespace, never touching the host
// clock (chronyd -x, ptp4l free_running); both namespaces share CLOCK_REALTIME, so the true offset is 0
// and each offset a peer reports is its error. The script prints one JSON object, kept as is under
// "compare" in the benchmark's output.
import Foundation
import Wire

struct PeerComparison {
    let peers: [String]
    let child: Child
    let output: String

    static let known = ["chrony", "ptp4l", "lsl"]

    /// The comparison script: `--peers-script`, else scripts/ in the source tree above .build, else
    /// the installed copy.
    static func script(_ explicit: String?) throws -> String {
        // .build/release → .build/<triple>/release: the source tree is two or three folders up.
        let own = URL(fileURLWithPath: CommandLine.arguments[0]).resolvingSymlinksInPath().deletingLastPathComponent()
        let tree = ["../..", "../../.."].map { own.appendingPathComponent("\($0)/scripts/sync-peers.py").standardized.path }
        let installed = own.appendingPathComponent("../share/lockstep/sync-peers.py").standardized.path  // make install
        let candidates = ([explicit] + tree + [installed]).compactMap { $0 }
        guard let found = candidates.first(where: { FileManager.default.isReadableFile(atPath: $0) }) else {
            throw BenchError("--compare needs scripts/sync-peers.py (looked in \(candidates.joined(separator: ", "))); pass --peers-script")
        }
        return found
    }

    /// Starts the peers for `seconds` on the link of this run (inside the hub's namespace).
    static func start(
        peers: [String], script: String, network: NetnsOptions, warmup: Double, seconds: Double, workDirectory: String
    ) throws -> PeerComparison {
        guard let deviceNamespace = network.deviceNamespace, let tag = deviceNamespace.split(separator: "-").last else {
            throw BenchError("--compare needs --netns (the peers run between the two namespaces)")
        }
        let clientAddress = network.topology == .switch ? NetnsLink.switchedDeviceAddress : NetnsLink.deviceAddress
        let output = workDirectory + "/peers.json"
        let arguments = [
            "python3", script, "--server-ns", "lockstep-hub-\(tag)", "--server-addr", NetnsLink.hubAddress, "--server-if", "lsh\(tag)",
            "--client-ns", deviceNamespace, "--client-addr", clientAddress, "--client-if", "lsd\(tag)",
            "--warmup", String(format: "%.0f", warmup.rounded(.up)), "--duration", String(format: "%.0f", seconds.rounded(.up)),
            "--peers", peers.joined(separator: ","),
            "--workdir", workDirectory + "/peers", "--json", "--output", output,
        ]
        // python3 from PATH: the one with pylsl installed, for the LSL peer.
        let child = try Child("/usr/bin/env", arguments, log: workDirectory + "/peers.log", name: "sync-peers")
        return PeerComparison(peers: peers, child: child, output: output)
    }

    /// Waits for the peers to finish (bounded) and returns their JSON, or why there is none.
    func finish(timeoutSeconds: Double) -> JSONValue {
        let deadline = Date().addingTimeInterval(timeoutSeconds)
        while child.process.isRunning, Date() < deadline { Thread.sleep(forTimeInterval: 0.2) }
        if child.process.isRunning {
            child.stop()
            return .object(["error": .string("sync-peers.py did not finish within \(Int(timeoutSeconds)) s")])
        }
        guard let bytes = FileManager.default.contents(atPath: output), let value = try? JSONValue.parse(Array(bytes)) else {
            return .object(["error": .string("sync-peers.py exited \(child.process.terminationStatus) without a result")])
        }
        return value
    }
}
