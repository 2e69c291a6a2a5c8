// TLS for the HTTP listener (API, dashboard, control WebSocket), from the PEM files named by
// tls_certificate and tls_private_key. Loaded once at startup (and by --check-config), so a missing
// file, a key that does not match the certificate or an expired certificate stops the hub with the
// reason before it listens. Devices verify the hub against a CA file they are given and the name in
// the certificate (docs/security.md, "TLS"); the data and sync channels stay plain (their
// integrity rests on the device token and CRC32C, and on the per-connection sync key).
import Foundation
import NIOSSL

/// What the hub serves its HTTP listener with when TLS is on.
public struct ListenerTLS: Sendable {
    public let context: NIOSSLContext
    /// The leaf certificate's serial number, common name and alternative names, for the log.
    public let certificate: String
    /// When the leaf certificate expires (seconds since 1970).
    public let notValidAfter: Int
}

extension HubConfiguration {
    /// The listener's TLS context, or nil when TLS is off.
    /// - Throws: `StartupError` naming the file and what is wrong with it.
    public func makeListenerTLS(now: Int = Int(Date().timeIntervalSince1970)) throws -> ListenerTLS? {
        guard let certificatePath = tlsCertificate, let keyPath = tlsPrivateKey else { return nil }
        let chain: [NIOSSLCertificate]
        do { chain = try NIOSSLCertificate.fromPEMFile(certificatePath) } catch {
            throw StartupError("tls_certificate \(certificatePath): not a readable PEM certificate (\(error))")
        }
        guard let leaf = chain.first else { throw StartupError("tls_certificate \(certificatePath): holds no certificate") }
        let key: NIOSSLPrivateKey
        do { key = try NIOSSLPrivateKey(file: keyPath, format: .pem) } catch {
            throw StartupError("tls_private_key \(keyPath): not a readable, unencrypted PEM private key (\(error))")
        }
        let expiry = Int(leaf.notValidAfter)
        guard expiry > now else { throw StartupError("tls_certificate \(certificatePath): expired (not valid after \(Self.utc(expiry)))") }
        var configuration = TLSConfiguration.makeServerConfiguration(certificateChain: chain.map { .certificate($0) }, privateKey: .privateKey(key))
        configuration.minimumTLSVersion = .tlsv12
        let context: NIOSSLContext
        do { context = try NIOSSLContext(configuration: configuration) } catch {
            throw StartupError("tls_private_key \(keyPath) does not belong to tls_certificate \(certificatePath), or cannot be used (\(error))")
        }
        return ListenerTLS(context: context, certificate: leaf.description, notValidAfter: expiry)
    }

    static func utc(_ seconds: Int) -> String {
        let formatter = ISO8601DateFormatter()
        return formatter.string(from: Date(timeIntervalSince1970: TimeInterval(seconds)))
    }
}
