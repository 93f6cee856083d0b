package io.coracle.runtime.streaming;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.coracle.cri.v1.ExecRequest;
import java.time.Duration;
import java.util.HashSet;
import java.util.Optional;
import java.util.Set;
import org.junit.jupiter.api.Test;

class StreamTokensTest {
    private static final ExecRequest REQ = ExecRequest.newBuilder().setContainerId("c1").addCmd("true").build();

    @Test
    void aTokenGivesItsRequestOnce() {
        StreamTokens tokens = new StreamTokens(Duration.ofMinutes(1));
        String t = tokens.issue(REQ).orElseThrow();
        assertTrue(t.matches("[A-Za-z0-9_-]{16}"), t);
        assertEquals(Optional.of(REQ), tokens.consume(t));
        assertEquals(Optional.empty(), tokens.consume(t));
        assertEquals(Optional.empty(), tokens.consume("not-a-token"));
    }

    @Test
    void anExpiredTokenIsRefused() throws InterruptedException {
        StreamTokens tokens = new StreamTokens(Duration.ofMillis(50));
        String t = tokens.issue(REQ).orElseThrow();
        Thread.sleep(120);
        assertEquals(Optional.empty(), tokens.consume(t));
    }

    @Test
    void atMostAThousandAreOutstandingAndUsingOneFreesASlot() {
        StreamTokens tokens = new StreamTokens(Duration.ofMinutes(1));
        Set<String> seen = new HashSet<>();
        for (int i = 0; i < StreamTokens.MAX_IN_FLIGHT; i++) {
            assertTrue(seen.add(tokens.issue(REQ).orElseThrow()));
        }
        assertEquals(Optional.empty(), tokens.issue(REQ));
        String any = seen.iterator().next();
        assertTrue(tokens.consume(any).isPresent());
        String next = tokens.issue(REQ).orElseThrow();
        assertNotEquals(any, next);
    }

    @Test
    void theErrorStreamTellsTheOutcomeAsTheKubeletDoes() {
        assertEquals("{\"metadata\":{},\"status\":\"Success\"}",
                new String(CommandOutcome.success().errorStreamContent(true)));
        String failure = new String(CommandOutcome.exited(3).errorStreamContent(true));
        assertTrue(failure.contains("\"status\":\"Failure\"") && failure.contains("\"reason\":\"NonZeroExitCode\"")
                && failure.contains("{\"reason\":\"ExitCode\",\"message\":\"3\"}"), failure);
        assertEquals(0, CommandOutcome.success().errorStreamContent(false).length);
        assertEquals("command terminated with non-zero exit code: exit status 3",
                new String(CommandOutcome.exited(3).errorStreamContent(false)));
        String internal = new String(CommandOutcome.failed("no such file").errorStreamContent(true));
        assertTrue(internal.contains("\"reason\":\"InternalError\"") && internal.contains("no such file"), internal);
    }

    @Test
    void theClientsFirstSupportedProtocolWins() {
        assertEquals(RemoteCommandProtocol.V4, RemoteCommandProtocol.negotiate(
                java.util.List.of("v5.channel.k8s.io", "v4.channel.k8s.io", "v3.channel.k8s.io"), RemoteCommandProtocol.SPDY));
        assertEquals(RemoteCommandProtocol.V2, RemoteCommandProtocol.negotiate(
                java.util.List.of("v2.channel.k8s.io", "v4.channel.k8s.io"), RemoteCommandProtocol.SPDY));
        assertEquals(RemoteCommandProtocol.WS_V5, RemoteCommandProtocol.negotiate(
                java.util.List.of("v5.channel.k8s.io", "v4.channel.k8s.io"), RemoteCommandProtocol.WEBSOCKET));
        assertEquals(null, RemoteCommandProtocol.negotiate(java.util.List.of("v9.channel.k8s.io"), RemoteCommandProtocol.SPDY));
    }
}
