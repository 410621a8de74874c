package pitwall;

import java.nio.file.Files;
import java.nio.file.Path;
import org.neo4j.configuration.GraphDatabaseSettings;
import org.neo4j.configuration.connectors.BoltConnector;
import org.neo4j.configuration.connectors.HttpConnector;
import org.neo4j.configuration.helpers.SocketAddress;
import org.neo4j.dbms.api.DatabaseManagementService;
import org.neo4j.dbms.api.DatabaseManagementServiceBuilder;
import org.neo4j.kernel.internal.Version;

/**
 * Starts a Neo4j Community server in this JVM with Bolt on 127.0.0.1:PORT and authentication
 * off, prints "READY bolt://127.0.0.1:PORT <version>" when it accepts connections, and stops
 * cleanly on SIGTERM or when stdin closes. Usage: Neo4jLauncher PORT DATA_DIR [PAGECACHE_MB]
 */
public final class Neo4jLauncher {
  public static void main(String[] args) throws Exception {
    if (args.length < 2) {
      System.err.println("usage: Neo4jLauncher PORT DATA_DIR [PAGECACHE_MB]");
      System.exit(2);
    }
    int port = Integer.parseInt(args[0]);
    Path home = Path.of(args[1]).toAbsolutePath();
    long pageCacheMb = args.length > 2 ? Long.parseLong(args[2]) : 64L;
    Files.createDirectories(home);
    long t0 = System.nanoTime();
    DatabaseManagementService service =
        new DatabaseManagementServiceBuilder(home)
            .setConfig(BoltConnector.enabled, true)
            .setConfig(BoltConnector.listen_address, new SocketAddress("127.0.0.1", port))
            .setConfig(HttpConnector.enabled, false)
            .setConfig(GraphDatabaseSettings.auth_enabled, false)
            .setConfig(GraphDatabaseSettings.pagecache_memory, pageCacheMb * 1024L * 1024L)
            .build();
    service.database(GraphDatabaseSettings.DEFAULT_DATABASE_NAME).executeTransactionally("RETURN 1");
    Runtime.getRuntime().addShutdownHook(new Thread(service::shutdown));
    double seconds = (System.nanoTime() - t0) / 1e9;
    System.out.printf("READY bolt://127.0.0.1:%d %s %.2fs%n", port, Version.getNeo4jVersion(), seconds);
    System.out.flush();
    // stop when the parent closes our stdin (the test session ended)
    while (System.in.read() != -1) {
      // ignore input
    }
    System.exit(0);
  }
}
