import ConfigurationFile
import Foundation
import SecretCore

/// Reads a configuration file into a declaration, with every error as `FILE:LINE:COLUMN: message`.
enum ConfigurationLoading {
    /// The declaration in the file at `path`; managers are checked as `manager add` checks them
    /// and their credential files read and sealed under the state directory's key.
    static func declaration(at path: String, state: String?) throws -> DeclaredConfiguration {
        let text: String
        do {
            let data = try ValueInput.read(path: path, limit: ConfigurationParser.maximumSize)
            text = try data.withUnsafeBytes { bytes in
                guard let text = String(validating: bytes, as: UTF8.self) else { throw SecretError(.invalidArgument, "\(path): not UTF-8 text") }
                return text
            }
        }
        // Relative credential files are the configuration's neighbours, as an operator keeps them in one directory.
        let directory = path == "-" ? FileManager.default.currentDirectoryPath : URL(fileURLWithPath: path).deletingLastPathComponent().path
        do {
            return try declaration(ConfigurationParser.parse(text), state: state, directory: directory)
        } catch {
            throw SecretError(.invalidArgument, "\(path):\(error.description)")
        }
    }

    /// The declaration a parsed document makes.
    static func declaration(_ document: ConfigurationDocument, state: String?, directory: String) throws(ConfigurationFileError) -> DeclaredConfiguration {
        var declared = DeclaredConfiguration()
        for application in document.applications {
            let name = try checked(application.location) { try ResourceName(application.name, what: "application") }
            declared.applications.append(name)
            for environment in application.environments {
                let environmentName = try checked(environment.location) { try ResourceName(environment.name, what: "environment") }
                guard let type = EnvironmentType(rawValue: environment.type) else {
                    throw ConfigurationFileError("environment '\(application.name)/\(environment.name)': type must be production or non-production, not '\(environment.type)'", at: environment.location)
                }
                declared.environments.append(DeclaredEnvironment(application: name, name: environmentName, type: type))
            }
        }
        for manager in document.managers {
            declared.managers.append(try ManagerSettings.draft(manager, state: state, directory: directory))
        }
        for link in document.links {
            let path = try checked(link.location) { try SecretPath(parsing: link.path) }
            let manager = try checked(link.location) { try ResourceName(link.manager, what: "manager") }
            guard let kind = SecretKind(rawValue: link.kind) else {
                throw ConfigurationFileError("link '\(link.path)': kind must be text or file, not '\(link.kind)'", at: link.location)
            }
            guard !link.remote.isEmpty, link.remote.utf8.count <= 1024 else { throw ConfigurationFileError("link '\(link.path)': remote must name the external secret", at: link.location) }
            declared.links.append(DeclaredLink(path: path, manager: manager, remote: link.remote, kind: kind))
        }
        return declared
    }

    /// `body`'s value, with a domain error placed at `location`.
    private static func checked<T>(_ location: Location, _ body: () throws -> T) throws(ConfigurationFileError) -> T {
        do {
            return try body()
        } catch let error as SecretError {
            throw ConfigurationFileError(error.message, at: location)
        } catch {
            throw ConfigurationFileError("\(error)", at: location)
        }
    }
}
