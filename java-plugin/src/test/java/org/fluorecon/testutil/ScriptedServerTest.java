package org.fluorecon.testutil;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import org.fluorecon.server.ServerClient;
import org.fluorecon.server.ServerConfig;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.io.TempDir;

/**
 * The fixture the server-job and server-backed command tests share: a {@link ScriptedServer} started in the test's
 * temporary folder before each test and stopped after it, its client, and (for commands, which find their server
 * through the user's config) {@link #useAsPluginServer()}. A test scripts the server in its own {@code @BeforeEach}
 * (run after this one) or in the test itself.
 */
public abstract class ScriptedServerTest extends CommandTestBase {
    @TempDir
    protected Path tmp;
    protected ScriptedServer server;

    @BeforeEach
    void startScriptedServer() throws IOException {
        server = new ScriptedServer(tmp);
    }

    @AfterEach
    void stopScriptedServer() {
        System.clearProperty(ServerConfig.PROPERTY);
        server.close();
    }

    /** A client of the scripted server, for a job made in the test. */
    protected ServerClient client() {
        return server.client();
    }

    /** Makes the temporary folder the plugin's config folder, naming the scripted server (as Server… would). */
    protected void useAsPluginServer() throws IOException {
        useAsPluginServer(server.url());
    }

    /** Makes the temporary folder the plugin's config folder, naming the server at {@code url}. */
    protected void useAsPluginServer(String url) throws IOException {
        Files.writeString(tmp.resolve("server.json"), "{\"url\": \"" + url + "\"}");
        System.setProperty(ServerConfig.PROPERTY, tmp.toString());
    }
}
