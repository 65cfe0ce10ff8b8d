// Parses a zoo.cfg with ZooKeeper's own parser (QuorumPeerConfig), as the
// server does at start: run by zookeeper-config-check in the zookeeper
// image, with the java single-file source launcher.
// Usage: java -cp $ZOOKEEPER_CLASSPATH ZooCfgCheck.java ZOO_CFG
// Exit codes: 0 valid, 1 invalid (the reason on stderr).
import org.apache.zookeeper.server.quorum.QuorumPeerConfig;

public class ZooCfgCheck {
    public static void main(String[] args) {
        QuorumPeerConfig config = new QuorumPeerConfig();
        try {
            config.parse(args[0]);
        } catch (QuorumPeerConfig.ConfigException e) {
            Throwable cause = e.getCause();
            System.err.println(e.getMessage() + (cause != null ? ": " + cause : ""));
            System.exit(1);
        }
        if (config.isDistributed()) {
            System.out.println("valid: server " + config.getServerId() + " of an ensemble of "
                + config.getQuorumVerifier().getVotingMembers().size());
        } else {
            System.out.println("valid: standalone");
        }
    }
}
