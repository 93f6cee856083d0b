package io.coracle.sandbox;

import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;

/** The executor for blocking work done alongside a request (plugin I/O, parallel setup steps). */
final class VirtualThreads {
    static final ExecutorService EXECUTOR = Executors.newThreadPerTaskExecutor(
            Thread.ofVirtual().name("coracle-sandbox-", 0).factory());

    private VirtualThreads() {}
}
