package org.fluorecon.testutil;

import java.nio.file.Path;
import org.fluorecon.core.Model;
import org.fluorecon.core.ModelCard;

/** A {@link Model} for job tests: a card, a file name and fixed provenance; a test supplies only {@code run}. */
public abstract class FakeModel implements Model {
    private final ModelCard card;
    private final Path path;

    protected FakeModel(ModelCard card, String fileName) {
        this.card = card;
        this.path = Path.of(fileName);
    }

    @Override
    public ModelCard card() {
        return card;
    }

    @Override
    public Path path() {
        return path;
    }

    @Override
    public String provider() {
        return "test";
    }

    @Override
    public String providerNote() {
        return "";
    }

    @Override
    public String sha256() {
        return "0";
    }

    /** Dynamic spatial axes (0 per axis), as our exported models have. */
    @Override
    public int[] fixedTile() {
        return new int[card.tileDefault.length];
    }
}
