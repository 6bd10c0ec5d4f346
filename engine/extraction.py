"""Preference extraction: from a member's comments on gallery images to liked/disliked feature lists.

Two backends share one small interface (`Extractor`):

- ``lexicon`` (the default) reads the comments with a vocabulary of visual attributes and a few
  rules about polarity, negation and contrast. It runs on any CPU in milliseconds, needs nothing
  downloaded, and is deterministic, so onboarding works on the smallest install and in CI.
- ``vpe`` runs the ViPer method's own extractor: IDEFICS2-8b with the VPE LoRA adapter, on a GPU.
  It sees the images themselves, so it can name features that no tag mentions.

Both return `viper.jobs.ExtractResult`. Heavy imports (torch, transformers, peft) happen only inside
the VPE loader, so importing this module, and the whole lexicon path, never touches torch.
"""

from __future__ import annotations

import hashlib
import importlib.util
import logging
import os
import re
import threading
import unicodedata
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any, Protocol, runtime_checkable

from viper.errors import InvalidArgument, JobFailed, ModelUnavailable
from viper.jobs import Comment, ExtractResult

__all__ = [
    "Attribute",
    "BACKENDS",
    "Extractor",
    "Lexicon",
    "LexiconExtractor",
    "Mention",
    "VPE_ADAPTER_ID",
    "VPE_INSTRUCTION",
    "VPE_MODEL_ID",
    "VpeExtractor",
    "build_vpe_messages",
    "default_lexicon",
    "make_extractor",
    "parse_features",
    "sanitize_comment",
]

log = logging.getLogger(__name__)


@runtime_checkable
class Extractor(Protocol):
    """What the worker needs from an extraction backend.

    `load()` does any slow setup up front, so a worker can call it at start-up and the first member
    does not wait for a model to load; `extract()` calls it on demand otherwise.
    """

    name: str
    version: str

    def load(self) -> None: ...

    def extract(self, comments: list[Comment]) -> ExtractResult: ...


BACKENDS = ("lexicon", "vpe")


def make_extractor(backend: str = "lexicon", **options: Any) -> Extractor:
    """Build the named backend. Options go to its constructor; unknown ones are an error, not ignored."""
    factories = {"lexicon": LexiconExtractor, "vpe": VpeExtractor}
    factory = factories.get(backend.strip().lower() if isinstance(backend, str) else backend)
    if factory is None:
        raise InvalidArgument(
            f"unknown extraction backend {backend!r}; known backends: {', '.join(BACKENDS)}", argument="backend"
        )
    try:
        return factory(**options)
    except TypeError as exc:
        raise InvalidArgument(f"bad option for the {backend} extraction backend: {exc}", argument="options") from exc


# ==================================================================================================
# Lexicon backend
# ==================================================================================================

# The vocabulary: one attribute per line, "canonical: synonym, synonym, ...". The canonical name is
# what lands in a profile and in the SDXL prompt, so it is a phrase an image model understands.
# Synonyms are matched as whole words after normalisation (lower case, American spelling, hyphens
# as spaces); a plural of each synonym's last word is added automatically.
VOCABULARY: dict[str, str] = {
    "color": """
        red: red, scarlet, vermilion, cherry red
        crimson: crimson
        burgundy: burgundy, maroon, wine red, oxblood
        ruby red: ruby, ruby red
        pink: pink, rose pink
        hot pink: hot pink, fuchsia, neon pink, shocking pink
        blush pink: blush, blush pink, pale pink, light pink, baby pink, soft pink
        dusty rose: dusty rose, dusty pink, old rose
        magenta: magenta
        coral: coral
        salmon: salmon
        peach: peach, apricot
        orange: orange, tangerine
        burnt orange: burnt orange
        amber: amber
        rust: rust, rusty
        copper: copper, bronze
        gold: gold, golden, gilded, gilt, dark gold
        yellow: yellow, lemon, bright yellow, lemon yellow
        mustard: mustard, mustard yellow
        pale yellow: pale yellow, butter yellow, light yellow
        green: green
        lime green: lime, lime green, chartreuse, acid green, neon green
        emerald: emerald, emerald green
        forest green: forest green, dark green, deep green, pine green, bottle green
        olive green: olive, olive green, khaki
        sage green: sage, sage green
        mint: mint, mint green, seafoam, pistachio
        teal: teal, teal blue, blue green, bluish green, petrol blue
        turquoise: turquoise, aqua, aquamarine
        cyan: cyan
        blue: blue
        sky blue: sky blue, light blue, azure, cerulean
        baby blue: baby blue, powder blue, pale blue
        ice blue: ice blue, icy blue, glacier blue
        electric blue: electric blue, neon blue
        cobalt blue: cobalt, cobalt blue, royal blue, ultramarine
        sapphire blue: sapphire, sapphire blue
        navy: navy, navy blue, dark blue, midnight blue, deep blue
        indigo: indigo, indigo blue
        purple: purple, plum, deep purple
        violet: violet
        lavender: lavender, lilac, periwinkle
        amethyst: amethyst
        mauve: mauve
        brown: brown, chocolate, umber, coffee
        sienna: sienna, burnt sienna
        terracotta: terracotta
        ochre: ochre, ocher, yellow ochre
        beige: beige, sand, sandy, tan, taupe
        cream: cream, off white, eggshell
        ivory: ivory
        white: white, snow white
        black: black, jet black, pitch black
        gray: gray, gray tones
        charcoal: charcoal, charcoal gray
        silver: silver, silvery
        slate gray: slate, slate gray, slate blue
        sepia: sepia, sepia tone
        warm colors: warm colors, warm tones, warm palette, warm hues, warm color
        cool colors: cool colors, cool tones, cool palette, cold colors, cold tones, cool hues, cool color
        pastel colors: pastel, pastel colors, pastel tones, pastel palette, soft colors
        neon colors: neon, neon colors, fluorescent, day glo, dayglo
        vibrant colors: vibrant, vibrant colors, vivid, vivid colors, saturated, saturated colors, bold colors
        bright colors: bright colors, bright palette, bright tones, brights
        muted colors: muted, muted colors, muted tones, subdued colors, dusty colors, toned down colors, desaturated
        earth tones: earth tones, earthy, earthy colors, earth colors, natural tones, earthy tones
        jewel tones: jewel tones, jewel colors, rich colors
        monochrome: monochrome, monochromatic, grayscale, single color, shades of gray
        black and white: black and white, b and w
        primary colors: primary colors, primaries
        complementary colors: complementary colors, complementary palette, contrasting colors
        colorful: colorful, multicolored, multicolor, rainbow, more colors, lots of color, lots of colors, many colors
        dark palette: dark palette, dark colors, dark tones, dark, darker tones, deep colors
        pale colors: pale colors, light colors, pale tones, light tones, pale palette
        autumn colors: autumn colors, autumnal, fall colors, autumn palette
        green tones: green tones, shades of green, green palette
        limited palette: limited palette, restricted palette, few colors, duotone, two tone
        flat colors: flat colors, flat color, solid colors, block colors
        muddy colors: muddy, muddy colors, murky, washed out
        harmonious colors: harmonious colors, color harmony, colors that match, matching colors
    """,
    "style": """
        abstract: abstract, abstraction, non representational, nonrepresentational
        surrealism: surrealism, surreal, surrealist
        impressionism: impressionism, impressionist, impressionistic
        expressionism: expressionism, expressionist, expressionistic
        abstract expressionism: abstract expressionism
        cubism: cubism, cubist
        pop art: pop art, warhol, lichtenstein
        art nouveau: art nouveau, nouveau, mucha
        art deco: art deco, deco
        pointillism: pointillism, pointillist, pointillistic
        baroque: baroque, rococo
        renaissance: renaissance, old masters
        realism: realism, realistic, realist, lifelike, true to life
        photorealistic: photorealistic, photorealism, hyperrealistic, hyperrealism, hyper realistic
        fantasy art: fantasy, fantasy art, fantastical
        science fiction: sci fi, science fiction, scifi
        futuristic: futuristic, space age
        cyberpunk: cyberpunk
        steampunk: steampunk
        vaporwave: vaporwave
        synthwave: synthwave, outrun, retrowave
        gothic: gothic, goth
        dark fantasy: dark fantasy
        naive art: naive art, naive, childlike
        folk art: folk art, folkloric
        bauhaus: bauhaus
        ukiyo e: ukiyo e, ukiyoe, japanese woodblock
        anime: anime, manga, ghibli, studio ghibli
        cartoon: cartoon, cartoonish, cartoony, comic, comic book, comics
        pixel art: pixel art, pixelated, 8 bit, 16 bit, pixels
        low poly: low poly, lowpoly, polygonal
        psychedelic: psychedelic, trippy
        op art: op art, optical art
        optical illusion: optical illusion, illusion, illusory, trompe l'oeil, impossible geometry
        graffiti: graffiti, street art
        retro: retro, vintage, old fashioned, old school
        fauvism: fauvism, fauvist
        romanticism: romanticism
        memphis style: memphis, memphis style, memphis design
        color field: color field, color field painting, rothko
        concept art: concept art, matte painting
        constructivism: constructivism, constructivist
        flat design: flat design, flat illustration, flat vector
        kawaii: kawaii
        minimalism art: minimal art
    """,
    "medium": """
        oil painting: oil painting, oil paint, oils, oil on canvas
        watercolor: watercolor, aquarelle, watercolor painting
        acrylic: acrylic, acrylic paint
        gouache: gouache
        ink: ink, ink drawing, india ink, ink wash, sumi e, pen and ink
        pencil sketch: pencil, pencil sketch, pencil drawing, graphite, sketch, sketched
        charcoal drawing: charcoal drawing, charcoal sketch
        pastel drawing: pastel drawing, chalk pastel, oil pastel, chalk
        crayon: crayon
        digital art: digital art, digital painting, digital
        3d render: 3d render, 3d rendering, cgi, rendered, blender render
        photography: photography, photo, photograph, photographic
        collage: collage, mixed media
        mosaic: mosaic, tesserae
        stained glass: stained glass, leaded glass
        vector art: vector, vector art, vector illustration
        linocut: linocut, woodcut, woodblock print, block print
        screen print: screen print, screenprint, silkscreen, risograph, riso
        halftone: halftone, ben day dots, benday dots
        airbrush: airbrush, airbrushed
        spray paint: spray paint, spray painted, aerosol
        illustration: illustration, illustrated, illustrative
        paper cutout: paper cut, paper cutout, papercut, cut paper
        embroidery: embroidery, embroidered, cross stitch
    """,
    "texture": """
        grainy texture: grainy, grain, film grain, grainy texture, noisy, noise, speckled
        smooth: smooth, smooth texture, sleek, silky
        rough texture: rough, rough texture, coarse, gritty, rugged
        glossy: glossy, shiny, gloss, lacquered
        matte: matte, matt, flat finish
        metallic: metallic, metal, chrome, chromed, foil
        glittery: glitter, glittery, sparkly, sparkles, sparkling, shimmering, shimmer
        iridescent: iridescent, holographic, opalescent, pearlescent
        translucent: translucent, transparent, transparency, see through, sheer, glassy
        marbled: marbled, marble, marbling
        crackled: crackled, cracked, craquelure, weathered, distressed
        paper texture: paper texture, textured paper, paper grain, handmade paper
        canvas texture: canvas texture, canvas, linen
        woven texture: woven, weave, woven texture, fabric, textile, knitted, knit
        soft texture: soft texture, velvety, velvet, fuzzy, furry, plush, fluffy
        textured: textured, tactile, heavily textured, texture rich
        wood grain: wood grain, wooden, wood texture
    """,
    "brushwork": """
        visible brushstrokes: brushstrokes, brush strokes, visible brushstrokes, painterly, brushy, visible strokes
        impasto: impasto, thick paint, heavy paint
        loose brushwork: loose, loose brushwork, loose strokes, gestural, expressive strokes
        fine brushwork: fine brushwork, delicate strokes, precise, precision, meticulous
        flowing lines: flowing lines, flowing, flow, fluid lines, fluid, flowy, wavy lines, wavy, undulating, sinuous
        curved lines: curved lines, curves, curvy, curving, arcs, curvilinear
        bold lines: bold lines, thick lines, heavy lines, strong lines
        thin lines: thin lines, fine lines, hairline, delicate lines, thin strokes
        clean lines: clean lines, crisp lines, sharp lines, clean linework
        sketchy lines: sketchy, scribbly, scribbled, scribbles, rough lines
        outlines: outlines, outline, outlined, black outlines
        hard edges: hard edges, hard edged, sharp edges, crisp edges, hard lines
        soft edges: soft edges, soft edged, feathered edges, blurred edges, blended edges
        diagonal lines: diagonal lines, diagonals, diagonal, slanted lines
        splatter: splatter, splattered, drips, dripping, paint drips, splashes
        stippling: stippling, stippled
        cross hatching: cross hatching, crosshatching, hatching, hatched
        swirling: swirling, swirls, swirl, swirly, whirling, vortex
        contour lines: contour lines, contours, topographic lines, isolines
        dots: dots, dotted, polka dots, dot pattern
        line art: line art, lineart, line drawing
    """,
    "lighting": """
        soft lighting: soft lighting, soft light, gentle light, gentle lighting, diffused light, diffuse light, soft glow
        harsh lighting: harsh lighting, harsh light, hard light, hard lighting
        dramatic lighting: dramatic lighting, dramatic light, theatrical lighting, spotlight
        backlighting: backlighting, backlit, back lit, rim light, rim lighting
        golden hour: golden hour, sunset light, warm light, golden light
        natural light: natural light, natural lighting, daylight, sunlight, sunlit
        neon lighting: neon lighting, neon lights, neon light, neon glow, neon signs
        glowing: glowing, glow, luminous, luminescent, bioluminescent, radiant, glowy
        chiaroscuro: chiaroscuro, tenebrism, light and shadow, play of light and shadow
        high contrast: high contrast, contrasty, strong contrast, stark contrast, contrast, punchy
        low contrast: low contrast, soft contrast, flat lighting
        dim lighting: dim, dim lighting, low light, low key, dark lighting, moody lighting, shadowy
        bright lighting: bright lighting, well lit, high key, bright light, overexposed
        cinematic lighting: cinematic, cinematic lighting, filmic
        deep shadows: deep shadows, dark shadows, heavy shadows, strong shadows, long shadows
        soft shadows: soft shadows, gentle shadows, subtle shadows
        light rays: light rays, god rays, sunbeams, sun rays, volumetric light, volumetric lighting, crepuscular rays
        candlelight: candlelight, candle light, candlelit, firelight
        moonlight: moonlight, moonlit
        lens flare: lens flare
        silhouettes: silhouette, silhouetted
        vignette: vignette, vignetting, dark corners
        bokeh: bokeh, out of focus lights, light orbs
    """,
    "mood": """
        calm: calm, calming, serene, serenity, peaceful, tranquil, quiet, relaxing, soothing, restful, zen
        dreamy: dreamy, dreamlike, dream like, ethereal, otherworldly, dream
        mysterious: mysterious, mystery, enigmatic, cryptic
        mystical: mystical, magical, magic, enchanted, enchanting, spiritual
        gloomy: gloomy, melancholic, melancholy, somber, sombre, bleak, sad, moody, brooding, dark mood, dark atmosphere
        eerie: eerie, creepy, haunting, haunted, spooky, unsettling, uncanny, ominous, sinister, disturbing
        nightmarish: nightmarish, nightmare, horror, macabre, grotesque
        whimsical: whimsical, playful, fun, quirky, lighthearted, light hearted, fanciful, silly
        joyful: joyful, cheerful, happy, uplifting, upbeat, sunny
        energetic: energetic, dynamic, lively, full of energy
        nostalgic: nostalgic, nostalgia, wistful
        romantic: romantic, tender, sensual
        dramatic: dramatic, intense, epic, grand, powerful
        elegant: elegant, elegance, refined, graceful, sophisticated, classy, tasteful
        luxurious: luxurious, luxury, opulent, expensive, lavish, regal
        cozy: cozy, cosy, homey, inviting, comforting
        chaotic: chaotic, chaos, frantic, frenetic, hectic, messy
        cold atmosphere: cold, sterile, clinical, detached
        lonely: lonely, isolated, solitary, desolate
        atmospheric: atmospheric, moody atmosphere
        bold: bold, striking, daring
        hypnotic: hypnotic, mesmerizing, mesmerising, trance like
    """,
    "composition": """
        minimalist: minimalist, minimalism, minimal, simple, simplicity, clean, sparse, understated, uncluttered, less is more
        busy: busy, cluttered, crowded, overcrowded, too much going on, overloaded, packed, dense, maximalist, maximalism, crammed, cramped
        symmetrical: symmetrical, symmetry, symmetric, mirrored, mirror image
        asymmetrical: asymmetrical, asymmetry, asymmetric, off center
        radial symmetry: radial symmetry, radial, radiating, radially symmetric, kaleidoscope, kaleidoscopic
        centered composition: centered, central composition, centered composition
        rule of thirds: rule of thirds
        negative space: negative space, empty space, white space, breathing room, open space
        geometric: geometric, geometry, geometrical, angular, sharp angles
        geometric shapes: geometric shapes, squares, rectangles, polygons, hexagons
        circles: circles, circle, circular, round shapes, rings, orbs, spheres
        concentric circles: concentric, concentric circles, concentric rings, bullseye
        triangles: triangles, triangle, triangular
        stripes: stripes, striped, stripy, stripey
        grid: grid, gridded, tiled, tiles, modular
        checkerboard: checkerboard, checkered, chequered, checker, chessboard
        spiral: spiral, spiraling, spiralling, helix
        mandala: mandala, rosette
        patterns: pattern, patterned, motifs
        repeating pattern: repeating pattern, repetitive pattern, repetition, repeating, tessellation, tessellated, seamless pattern
        intricate patterns: intricate, intricate patterns, intricacy, elaborate patterns, complex patterns, ornate patterns
        layered: layered, layers, layering, multi layered, multilayered, overlapping, overlapping shapes
        organic shapes: organic shapes, organic, organic forms, biomorphic, fluid shapes, natural shapes, blobs, blobby, amorphous
        gradient: gradient, gradation, ombre, color gradient, fading colors, smooth transitions
        color blocking: color blocking, color blocks, blocks of color, color blocked
        dynamic composition: dynamic composition, sense of movement, movement, motion, dynamism
        fragmented: fragmented, fractured, shattered, broken up
        balanced: balanced, balance, harmonious, harmony, cohesive, well balanced
        faceted: faceted, facets, crystalline, prismatic
        topographic: topographic, topography, map like, cartographic
        plaid: plaid, tartan, gingham
        dark background: dark background, black background, dark backdrop
    """,
    "perspective": """
        isometric: isometric, axonometric
        one point perspective: one point perspective, vanishing point, linear perspective, converging lines, deep perspective
        birds eye view: bird's eye view, birds eye view, aerial view, top down, overhead view, from above
        low angle: low angle, worm's eye view, worms eye view, from below, looking up
        flat perspective: flat perspective, two dimensional, 2d, flat look, flattened, no depth
        sense of depth: sense of depth, depth, deep space, receding
        atmospheric perspective: atmospheric perspective, aerial perspective, haze, hazy, misty, mist, fog, foggy
        3d effect: 3d effect, 3d, three dimensional, 3d look
        shallow depth of field: shallow depth of field, depth of field, blurry background, blurred background, background blur
        close up: close up, closeup, macro, zoomed in
        wide angle: wide angle, panoramic, panorama, wide shot, fisheye, fish eye
        distorted perspective: distorted perspective, warped, distorted, distortion, skewed, bulging
    """,
    "detail": """
        highly detailed: highly detailed, detailed, intricate details, lots of detail, fine detail, rich detail, elaborate, hyper detailed, ultra detailed
        low detail: low detail, simplified, little detail, lacking detail, lacks detail, simplistic, basic
        sharp focus: sharp, sharp focus, crisp, crisp details, in focus, razor sharp, high resolution, hi res, 4k
        soft focus: soft focus, blurry, blurred, blur, out of focus
        ornate: ornate, ornamental, decorative, embellished, filigree
        polished: polished, slick, professional, clean finish
        unfinished: unfinished, rough sketch, incomplete, raw
        hand drawn: hand drawn, handmade, hand made, hand painted, handcrafted
    """,
}

# Words that name a category without saying which feature ("love the colours"). They resolve to
# the tags of the image being answered, in that category, as the method asks of its model.
CATEGORY_WORDS: dict[str, str] = {
    "color": "color, colors, coloring, palette, color palette, color scheme, color choice, tones, hues, hue, shades, tints, color combination",
    "texture": "texture, textures, surface, surfaces, finish",
    "lighting": "lighting, light, lights, illumination, shadows, shading, shadow",
    "composition": "composition, layout, arrangement, shapes, forms, structure, framing",
    "style": "style, aesthetic, aesthetics, art style, look",
    "mood": "mood, vibe, vibes, atmosphere, feel, feeling, ambience, ambiance, energy, tone",
    "medium": "medium, technique, materials",
    "brushwork": "brushwork, strokes, lines, linework, line work",
    "perspective": "perspective, angle, viewpoint, point of view",
    "detail": "detail, details, detailing",
}

# Surface words that judge as they describe ("cluttered" is "busy" said with a frown). The judgement
# is used only when nothing else in the clause says how the member feels.
POLARITY_HINTS: dict[str, int] = {
    "cluttered": -1,
    "crowded": -1,
    "overcrowded": -1,
    "too much going on": -1,
    "overloaded": -1,
    "crammed": -1,
    "cramped": -1,
    "messy": -1,
    "muddy": -1,
    "murky": -1,
    "washed out": -1,
    "muddy colors": -1,
    "lacking detail": -1,
    "lacks detail": -1,
    "simplistic": -1,
    "basic": -1,
    "blurry": -1,
    "unfinished": -1,
    "elegant": 1,
    "elegance": 1,
    "graceful": 1,
    "tasteful": 1,
    "classy": 1,
    "harmonious": 1,
    "harmony": 1,
    "well balanced": 1,
    "cohesive": 1,
    "colors that match": 1,
    "matching colors": 1,
}

POSITIVE_CUES = """
    love, loved, loves, loving, lovely, luv, like, liked, likes, liking, beautiful, beautifully, beauty,
    gorgeous, great, nice, nicely, amazing, awesome, stunning, perfect, perfectly, perfection, enjoy,
    enjoyed, enjoying, enjoyable, adore, adored, fan, appreciate, appreciated, prefer, preferred,
    wonderful, pleasing, pleasant, fantastic, brilliant, excellent, fabulous, incredible, pretty, cool,
    cute, charming, delightful, favorite, best, interesting, captivating, superb, works, work, working,
    worked, satisfying, attractive, appealing, impressive, wow, exquisite, magnificent, breathtaking,
    exciting, excited, good, neat, sweet, dig, digging, resonate, resonates, resonated, match, matches,
    gorgeously, lovelier, favourite, yes, sublime, divine, stellar, fave, fav, in love with, into it,
    drawn to, obsessed, obsessed with, more of this, more of, needs, need, needed, could use
"""

NEGATIVE_CUES = """
    hate, hated, hates, hating, dislike, disliked, dislikes, ugly, boring, bored, bland, dull, harsh,
    garish, gaudy, tacky, awful, terrible, horrible, bad, worst, worse, meh, annoying, annoyed,
    overwhelming, overwhelmed, distracting, lifeless, cheap, artificial,
    unnatural, fake, off putting, offputting, jarring, clash, clashes, clashing, unpleasant, painful,
    hurts, headache, nauseating, sickening, sloppy, amateurish, amateur, disappointing, disappointed,
    yuck, ew, eww, gross, mess, unmatched, mismatched, unbalanced, overdone, overkill, overpowering,
    overbearing, loud, ruin, ruins, ruined, spoils, weak, poor, poorly, confusing, generic, cliche,
    soulless, dated, eyesore, irritating, unappealing, unattractive, forgettable, hideous, repulsive,
    wrong, too much, too many, can't stand, cannot stand, cant stand, not for me, isn't for me,
    is not for me, not my thing, not my style, not my taste, not my cup of tea, no thanks,
    don't care for, do not care for, turns me off, turn off, put off, puts me off, strains,
    not a fan, nothing special, uninspired, uninspiring, pointless, lazy
"""

NEGATORS = """
    not, no, never, nor, neither, hardly, barely, don't, doesn't, didn't, isn't, aren't, wasn't,
    weren't, can't, cannot, couldn't, won't, wouldn't, shouldn't, haven't, hasn't, dont, doesnt,
    didnt, isnt, arent, wasnt, werent, cant, wont, wouldnt, havent, hasnt, ain't
"""

# These flip a feature they stand before ("less grain", "teal instead of yellow") but no cue.
FEATURE_NEGATORS = "less, fewer, without, instead of, rather than, free of"

# A complaint about something missing: a negative cue that also negates what follows, so
# "it lacks contrast" comes out as contrast liked.
LACK_WORDS = "lack, lacks, lacking, lack of, lacking in, missing, absence of, devoid of"

# Phrases that only look like cues: "feels like" compares, it does not approve.
NEUTRAL_PHRASES = """
    feels like, feel like, felt like, looks like, look like, looked like, seems like, seem like,
    sounds like, more like, kind of like, kinda like, sort of like, something like, just like, i guess, work of art, works of art, artwork, artworks, art work, in terms of,
    color of, pretty much, look at, to look at, no matter
"""

# A word that ends a clause and starts one that, without its own cue, means the opposite.
CONTRAST_WORDS = {
    "but",
    "though",
    "although",
    "however",
    "yet",
    "whereas",
    "except",
    "nevertheless",
    "nonetheless",
    "tho",
}
# Words allowed between a negator and the feature it negates ("not the grain", "no more neon").
_FILLERS = {
    "the",
    "a",
    "an",
    "any",
    "so",
    "that",
    "this",
    "these",
    "those",
    "much",
    "more",
    "very",
    "of",
    "such",
    "really",
    "as",
    "quite",
    "all",
    "its",
    "it's",
    "is",
    "are",
    "was",
    "were",
    "be",
    "been",
    "too",
    "overly",
    "enough",
    "some",
    "big",
    "huge",
    "particular",
    "particularly",
    "them",
    "it",
    "in",
    "with",
    "lot",
    "lots",
}
_EMOJI_POSITIVE = set("❤♥😍🥰😻👍🔥✨💯🤩😊💖💕💙💜💚🧡💛🖤😀😄😁🙌👏🌟💗😌🤗")
_EMOJI_NEGATIVE = set("👎🤮🤢😡😠😒🙄💩😬😕😞😖🥱😣😫")
_HARD_BREAKS = {".", "!", "?", ";", ":", "…"}
_SOFT_BREAKS = {",", "(", ")", "—", "–", "-", "/", '"', "“", "”"}

LEXICON_RULES_VERSION = "1"
MAX_LEXICON_CHARS = 4000


@dataclass(frozen=True)
class Attribute:
    """A canonical visual feature and the category it belongs to."""

    name: str
    category: str


@dataclass(frozen=True)
class _Entry:
    kind: str  # feature | category | cue | lack | negator | feature_negator | excess | wish | neutral
    attribute: Attribute | None = None
    category: str | None = None
    polarity: int = 0  # for cues; for features, the hint used when nothing else decides


@dataclass
class Mention:
    """One feature found in one comment, with the polarity decided for it (+1 liked, -1 disliked)."""

    feature: str
    category: str
    polarity: int
    source: str  # "text" (named in the comment) or "image" (resolved from the image's tags)


def _normalise(text: str) -> str:
    """Lower case, no accents, American spelling, hyphens and '&' as words: one spelling per word."""
    text = unicodedata.normalize("NFKD", text)
    text = "".join(ch for ch in text if not unicodedata.combining(ch))
    text = text.lower().replace("’", "'").replace("‘", "'").replace("`", "'")
    text = re.sub(r"colour", "color", text)
    text = re.sub(r"\bgrey", "gray", text)
    text = re.sub(r"\bcentre", "center", text)
    text = re.sub(r"\bfavourite", "favorite", text)
    text = re.sub(r"(?<=\w)-(?=\w)", " ", text)
    text = text.replace("&", " and ")
    return text


_TOKEN = re.compile(r"[a-z0-9]+(?:'[a-z]+)?|[^\sa-z0-9]")


def _tokens(text: str) -> list[str]:
    return _TOKEN.findall(_normalise(text))


def _plural(word: str) -> str | None:
    if not word.isalpha() or word.endswith("s") or len(word) < 3:
        return None
    if word.endswith("y") and word[-2] not in "aeiou":
        return word[:-1] + "ies"
    if word.endswith(("sh", "ch", "x", "z")):
        return word + "es"
    return word + "s"


def _phrases(block: str) -> list[str]:
    return [p.strip() for p in block.replace("\n", ",").split(",") if p.strip()]


class Lexicon:
    """The vocabulary compiled into a phrase table, with lookups the extractor and tests share.

    Building checks the vocabulary: a phrase claimed by two different attributes, or by an
    attribute and a cue, is a mistake in the data and fails loudly rather than matching at random.
    """

    def __init__(self, vocabulary: dict[str, str] | None = None) -> None:
        vocabulary = VOCABULARY if vocabulary is None else vocabulary
        self.attributes: dict[str, Attribute] = {}
        self._table: dict[tuple[str, ...], _Entry] = {}
        explicit: set[tuple[str, ...]] = set()
        for category, block in vocabulary.items():
            for line in block.strip().splitlines():
                line = line.strip()
                if not line or line.startswith("#"):
                    continue
                name, _, synonyms = line.partition(":")
                name = " ".join(_tokens(name))
                if name in self.attributes:
                    raise ValueError(f"lexicon: attribute {name!r} defined twice")
                attribute = Attribute(name, category)
                self.attributes[name] = attribute
                for phrase in [name, *_phrases(synonyms)]:
                    key = tuple(_tokens(phrase))
                    hint = POLARITY_HINTS.get(" ".join(key), 0)
                    self._add(key, _Entry("feature", attribute=attribute, polarity=hint), explicit, phrase)
        # Plurals come second so they never displace a phrase written out on purpose.
        for key, entry in list(self._table.items()):
            plural = _plural(key[-1])
            if plural and entry.kind == "feature" and key[:-1] + (plural,) not in self._table:
                self._table[key[:-1] + (plural,)] = entry
        for category, words in CATEGORY_WORDS.items():
            for phrase in _phrases(words):
                self._add(tuple(_tokens(phrase)), _Entry("category", category=category), explicit, phrase)
        for block, entry in (
            (POSITIVE_CUES, _Entry("cue", polarity=1)),
            (NEGATIVE_CUES, _Entry("cue", polarity=-1)),
            (NEGATORS, _Entry("negator")),
            (FEATURE_NEGATORS, _Entry("feature_negator")),
            (LACK_WORDS, _Entry("lack", polarity=-1)),
            (NEUTRAL_PHRASES, _Entry("neutral")),
        ):
            for phrase in _phrases(block):
                key = tuple(_tokens(phrase))
                if key in explicit and self._table[key].kind == "feature" and entry.kind in ("cue", "lack"):
                    raise ValueError(f"lexicon: {phrase!r} is both a feature and a cue; use POLARITY_HINTS")
                self._add(key, entry, explicit, phrase)
        self._add(("too",), _Entry("excess", polarity=-1), explicit, "too")
        for word in ("wish", "wished", "hoped", "hope"):
            self._add((word,), _Entry("wish", polarity=1), explicit, word)
        self.max_phrase = max(len(k) for k in self._table)
        digest = hashlib.sha256(
            repr(sorted((k, v.kind, v.polarity, v.attribute) for k, v in self._table.items())).encode()
        )
        self.fingerprint = digest.hexdigest()[:8]

    def _add(self, key: tuple[str, ...], entry: _Entry, explicit: set, phrase: str) -> None:
        if not key:
            return
        if key in explicit and self._table[key] != entry:
            raise ValueError(f"lexicon: phrase {phrase!r} has two meanings")
        explicit.add(key)
        self._table[key] = entry

    def __len__(self) -> int:
        return len(self.attributes)

    @property
    def categories(self) -> list[str]:
        return list(dict.fromkeys(a.category for a in self.attributes.values()))

    def lookup(self, phrase: str) -> Attribute | None:
        """The attribute a whole phrase names exactly (a canonical name or a synonym), else None."""
        entry = self._table.get(tuple(_tokens(phrase)))
        return entry.attribute if entry is not None and entry.kind == "feature" else None

    def find(self, text: str) -> list[Attribute]:
        """Every attribute mentioned anywhere in `text`, in order, longest phrases first."""
        return [item.entry.attribute for item in self._scan(_tokens(text)) if item.entry.kind == "feature"]

    def categorize(self, tag: str) -> str | None:
        """The category of an image tag, also for tags we do not know word for word ("dark teal waves")."""
        attribute = self.lookup(tag)
        if attribute is not None:
            return attribute.category
        found = self.find(tag)
        return found[-1].category if found else None

    def _scan(self, tokens: list[str]) -> list[_Item]:
        items, i = [], 0
        while i < len(tokens):
            for length in range(min(self.max_phrase, len(tokens) - i), 0, -1):
                entry = self._table.get(tuple(tokens[i : i + length]))
                if entry is not None:
                    items.append(_Item(entry, i, i + length))
                    i += length
                    break
            else:
                token = tokens[i]
                if token in _EMOJI_POSITIVE or token in _EMOJI_NEGATIVE:
                    items.append(_Item(_Entry("cue", polarity=1 if token in _EMOJI_POSITIVE else -1), i, i + 1))
                i += 1
        return items


_CUE_KINDS = ("cue", "lack", "excess", "wish")


@dataclass
class _Item:
    entry: _Entry
    start: int
    end: int
    polarity: int = 0
    consumed: bool = False
    negated: bool = False


@dataclass
class _Clause:
    tokens: list[str]
    items: list[_Item]
    sentence: int
    contrast: bool
    cues: list[_Item] = field(default_factory=list)


@lru_cache(maxsize=1)
def default_lexicon() -> Lexicon:
    return Lexicon()


class LexiconExtractor:
    """Reads comments with the vocabulary and simple, predictable polarity rules.

    Per clause (comments are split at sentence ends, commas, and contrast words such as "but"):
    cues ("love", "too", "harsh", "not a fan") get a polarity, flipped by a negator just before
    them; each feature takes the polarity of the nearest cue. A clause with no cue inherits the
    previous clause's polarity within the sentence, reversed after a contrast word ("love the
    colours but not the grain"); failing that, the comment's polarity if all its cues agree.
    Vague words ("the colours") resolve to the answered image's tags of that category, and a
    comment with a clear verdict but no feature at all ("love this one!") to all of its tags.
    """

    name = "lexicon"

    def __init__(self, *, lexicon: Lexicon | None = None, max_chars: int = MAX_LEXICON_CHARS) -> None:
        self.lexicon = lexicon or default_lexicon()
        self.max_chars = max_chars
        self.version = f"{LEXICON_RULES_VERSION}.{len(self.lexicon)}+{self.lexicon.fingerprint}"

    def load(self) -> None:
        """Nothing to load; the vocabulary is compiled when the extractor is built."""

    def extract(self, comments: Sequence[Comment] | None) -> ExtractResult:
        liked: dict[str, int] = {}
        disliked: dict[str, int] = {}
        for comment in comments or []:
            for mention in self.analyse(comment):
                target = liked if mention.polarity > 0 else disliked
                target[mention.feature] = target.get(mention.feature, 0) + 1
        both = liked.keys() & disliked.keys()
        return ExtractResult(
            liked=_by_count(liked, both),
            disliked=_by_count(disliked, both),
            backend=self.name,
            backend_version=self.version,
        )

    # --- one comment -----------------------------------------------------------------------------

    def analyse(self, comment: Comment | str | None) -> list[Mention]:
        """The mentions in one comment, in reading order. Never raises on odd input."""
        if comment is None:
            return []
        if isinstance(comment, str):
            comment = Comment(text=comment)
        raw = getattr(comment, "text", None)
        text = (raw if isinstance(raw, str) else "" if raw is None else str(raw))[: self.max_chars]
        raw_tags = getattr(comment, "image_tags", None)
        tags = [t for t in (raw_tags if isinstance(raw_tags, list) else []) if isinstance(t, str) and t.strip()]
        clauses = self._clauses(_tokens(text))
        for clause in clauses:
            self._resolve_cues(clause)
        cue_signs = {c.polarity for clause in clauses for c in clause.cues if c.polarity}
        comment_polarity = cue_signs.pop() if len(cue_signs) == 1 else 0

        mentions: list[Mention] = []
        carry, sentence = 0, -1
        for clause in clauses:
            if clause.sentence != sentence:
                carry, sentence = 0, clause.sentence
            negation_is_contrast = clause.contrast and not clause.cues
            # After "but" with no cue of its own the clause means the opposite of what came before.
            inherited = -(carry or comment_polarity) if negation_is_contrast else carry
            features = [it for it in clause.items if it.entry.kind in ("feature", "category")]
            named = {it.entry.attribute.category for it in features if it.entry.kind == "feature"}
            last_hint = 0
            for item in features:
                self._mark_negation(clause, item)
                polarity, source = self._polarity(clause, item, inherited, comment_polarity)
                if source == "hint":
                    last_hint = polarity
                    if item.negated:
                        continue  # "not cluttered": a judgement withdrawn, not a preference
                elif item.negated and source != "negation" and not negation_is_contrast:
                    polarity = -polarity
                if polarity == 0:
                    continue
                if item.entry.kind == "feature":
                    mentions.append(Mention(item.entry.attribute.name, item.entry.attribute.category, polarity, "text"))
                elif item.entry.category not in named:
                    mentions.extend(self._from_tags(tags, item.entry.category, polarity))
            spoken = [c.polarity for c in clause.cues if c.polarity]
            carry = spoken[-1] if spoken else (last_hint or inherited)

        if not mentions and comment_polarity and tags:
            mentions = self._from_tags(tags, None, comment_polarity)
        return mentions

    def _clauses(self, tokens: list[str]) -> list[_Clause]:
        clauses: list[_Clause] = []
        current: list[str] = []
        sentence, contrast = 0, False

        def close(next_contrast: bool) -> None:
            nonlocal current, contrast
            if current:
                clauses.append(_Clause(current, self.lexicon._scan(current), sentence, contrast))
            current, contrast = [], next_contrast or (contrast and not current)

        for token in tokens:
            if token in _HARD_BREAKS:
                close(False)
                sentence += 1
                contrast = False
            elif token in _SOFT_BREAKS:
                close(False)
            elif token in CONTRAST_WORDS:
                close(True)
            else:
                current.append(token)
        close(False)
        return clauses

    def _resolve_cues(self, clause: _Clause) -> None:
        items = clause.items
        for index, item in enumerate(items):
            kind = item.entry.kind
            if kind not in _CUE_KINDS:
                continue
            if kind == "excess" and item.end >= len(clause.tokens):
                continue  # "me too", "the lines too": an addition, not an excess
            polarity = item.entry.polarity
            if kind == "wish":
                # "wish it wasn't so abstract", "wish there was less grain": a wish against something
                for other in items[index + 1 :]:
                    if other.start - item.end > 4 or other.entry.kind in _CUE_KINDS:
                        break
                    if other.entry.kind in ("negator", "feature_negator") and not other.consumed:
                        other.consumed, polarity = True, -1
                        break
            else:
                for other in reversed(items[:index]):
                    if item.start - other.end > 3 or other.entry.kind in _CUE_KINDS:
                        break
                    if other.entry.kind == "negator" and not other.consumed:
                        other.consumed = True
                        polarity = 0 if kind == "excess" else -polarity  # "not too busy" is no verdict
                        break
            item.polarity = polarity
            clause.cues.append(item)

    def _mark_negation(self, clause: _Clause, item: _Item) -> None:
        index = clause.items.index(item)
        for other in reversed(clause.items[:index]):
            if other.entry.kind in ("negator", "feature_negator", "lack"):
                between = clause.tokens[other.end : item.start]
                if not other.consumed and len(between) <= 3 and all(t in _FILLERS for t in between):
                    item.negated = True
                    other.consumed = other.entry.kind != "lack"  # "lacks depth and contrast": both
                return
            if other.entry.kind in _CUE_KINDS or item.start - other.end > 4:
                return

    def _polarity(self, clause: _Clause, item: _Item, inherited: int, comment_polarity: int) -> tuple[int, str]:
        """The polarity of one feature or category word, before its own negation, and what decided it.

        In order: the nearest cue in the clause ("cue"), the feature's own judgement ("hint"), the
        clause's inherited polarity or the comment's ("context"), and for a bare negated feature
        such as "no neon" a dislike ("negation", already final).
        """
        best, best_distance = None, None
        for cue in clause.cues:
            if cue.end <= item.start:
                distance = item.start - cue.end
            else:
                distance = cue.start - item.end + 0.5  # on a tie, the cue before the feature wins
            if best_distance is None or distance < best_distance:
                best, best_distance = cue, distance
        if best is not None:
            return best.polarity, "cue"
        if item.entry.polarity:
            return item.entry.polarity, "hint"
        if inherited:
            return inherited, "context"
        if comment_polarity:
            return comment_polarity, "context"
        return (-1 if item.negated else 0), "negation"

    def _from_tags(self, tags: list[str], category: str | None, polarity: int) -> list[Mention]:
        mentions = []
        for tag in tags:
            attribute = self.lexicon.lookup(tag)
            tag_category = attribute.category if attribute else self.lexicon.categorize(tag)
            if category is not None and tag_category != category:
                continue
            name = attribute.name if attribute else " ".join(tag.lower().split())
            mentions.append(Mention(name, tag_category or "other", polarity, "image"))
        return mentions


def _by_count(counts: dict[str, int], drop: set[str]) -> list[str]:
    """Most-mentioned first; ties keep the order in which features were first mentioned."""
    order = {name: i for i, name in enumerate(counts)}
    return sorted((n for n in counts if n not in drop), key=lambda n: (-counts[n], order[n]))


# ==================================================================================================
# VPE backend (IDEFICS2-8b + the VPE LoRA adapter)
# ==================================================================================================

VPE_MODEL_ID = "HuggingFaceM4/idefics2-8b"
VPE_ADAPTER_ID = "EPFL-VILAB/VPE-ViPer"
VPE_IMAGE_SIZE = {"longest_edge": 448, "shortest_edge": 378}
VPE_MAX_NEW_TOKENS = 2000
VPE_REPETITION_PENALTY = 0.99
MAX_COMMENT_CHARS = 600

# Our wording of the instruction the adapter was trained with. The adapter learned one fixed
# instruction, so this keeps its meaning point by point: what it is given, which features to
# look for, that subject matter is out of scope, that vague praise must be made concrete from the
# image, and that the answer is two keyword lists.
VPE_INSTRUCTION = (
    "You will see a set of artworks, each followed by a comment a person wrote about it. Study the "
    "artworks and the comments, and identify artistic features such as the colors that appear or are "
    "mentioned, style, composition, mood, medium, texture, brushwork, lighting, shadow effects, "
    "perspective, and any other notable elements.\n\n"
    "Your job is to find the artistic features this person likes and the ones they dislike, using both "
    "the features of the artworks and what the person says about them. Consider artistic qualities only "
    "and leave the subject matter aside.\n\n"
    "When the person states a preference about an aspect without saying exactly which one (for example, "
    "praising the colors without naming them), name those specific features from the image itself, so "
    "the preference can be understood without seeing the artwork.\n\n"
    "Answer with two short lists of keywords: one with the specific art features the person likes and "
    "one with the specific features they dislike (keywords only, no sentences).\n\n"
    "The images and their comments follow:\n"
)

_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029\u200b-\u200f\u202a-\u202e\u2066-\u2069]")
_ROLE_MARKER = re.compile(
    r"\b(comment\s*#?\s*\d+|(?:dis)?liked\s+art\s+features|user|assistant|system|instruction)\s*:", re.IGNORECASE
)


def sanitize_comment(text: Any, max_chars: int = MAX_COMMENT_CHARS) -> str:
    """Make a member's comment safe to place on a "Comment N:" line of the model's prompt.

    The comment must stay data: it is folded onto one line (no fake new turns or lists), angle
    brackets become look-alikes (so "<image>" or "<end_of_utterance>" cannot become special tokens),
    markers the prompt or the answer rely on lose their colon ("Comment 9:", "Assistant:",
    "Liked Art Features:"), and the length is capped.
    """
    if text is None:
        return ""
    text = unicodedata.normalize("NFKC", str(text))
    text = _CONTROL.sub(" ", text)
    text = text.replace("<", "‹").replace(">", "›")
    text = _ROLE_MARKER.sub(lambda m: m.group(1) + " -", text)
    text = " ".join(text.split())
    if len(text) > max_chars:
        cut = text[:max_chars]
        cut = cut[: cut.rfind(" ")] if " " in cut[max_chars // 2 :] else cut
        text = cut.rstrip() + " …"
    return text


def _open_image(path: str | os.PathLike | None, max_side: int = 1024):
    """The comment's image as RGB, or None when it is missing or unreadable (the comment still counts)."""
    if not path:
        return None
    from PIL import Image  # Pillow is a core dependency; imported here to keep module import light

    try:
        with Image.open(path) as image:
            image.draft("RGB", (max_side, max_side))  # JPEGs decode at reduced size directly
            rgb = image.convert("RGB")
        rgb.thumbnail((max_side, max_side))  # the processor shrinks to 448 anyway; save memory
        return rgb
    except (OSError, ValueError, Image.DecompressionBombError, SyntaxError) as exc:
        log.warning("VPE: cannot open image %s (%s); keeping the comment as text only", path, exc)
        return None


def build_vpe_messages(
    comments: Iterable[Comment] | None, *, max_chars: int = MAX_COMMENT_CHARS
) -> tuple[list[dict], list]:
    """The chat messages and images for one VPE call.

    One user turn: the instruction, then per comment its image (when it opens) followed by
    "Comment N: <text>". N counts the comments kept, in order; empty comments are dropped with
    their image, since an image without a reaction says nothing about taste.
    """
    content: list[dict] = [{"type": "text", "text": VPE_INSTRUCTION}]
    images: list = []
    number = 0
    for comment in comments or []:
        if comment is None:
            continue
        text = sanitize_comment(getattr(comment, "text", None), max_chars)
        if not text:
            continue
        number += 1
        image = _open_image(getattr(comment, "image_path", None))
        if image is not None:
            content.append({"type": "image"})
            images.append(image)
        content.append({"type": "text", "text": f"Comment {number}: {text}"})
    return [{"role": "user", "content": content}], images


_LIKED = re.compile(r"\bliked\s+art\s+features\s*:?", re.IGNORECASE)
_DISLIKED = re.compile(r"\bdisliked\s+art\s+features\s*:?", re.IGNORECASE)
_BULLET = re.compile(r"^(?:[-*•·]+|\d+[.)])\s*")
MAX_FEATURE_WORDS = 8
MAX_FEATURES = 100


def parse_features(text: str | None) -> tuple[list[str], list[str]]:
    """Split the model's answer into (liked, disliked) feature lists.

    Expects "Liked Art Features: a, b ... Disliked Art Features: c, d". Tolerates extra spaces and
    line breaks, bullets, a missing disliked part, and a prompt echoed before the answer. Items are
    stripped and de-duplicated (ignoring case), sentence-like items are dropped, and a feature
    found in both lists is dropped from both.
    """
    if not text or not isinstance(text, str):
        return [], []
    if "Assistant:" in text:
        text = text.rsplit("Assistant:", 1)[1]
    liked_match = _LIKED.search(text)
    disliked_match = _DISLIKED.search(text, liked_match.end() if liked_match else 0)
    if liked_match is None and disliked_match is None:
        return [], []
    liked_text = ""
    if liked_match is not None:
        liked_text = text[liked_match.end() : disliked_match.start() if disliked_match else len(text)]
    disliked_text = text[disliked_match.end() :] if disliked_match else ""
    liked, disliked = _split_features(liked_text), _split_features(disliked_text)
    both = {f.casefold() for f in liked} & {f.casefold() for f in disliked}
    return [f for f in liked if f.casefold() not in both], [f for f in disliked if f.casefold() not in both]


def _split_features(text: str) -> list[str]:
    features: dict[str, str] = {}
    for raw in re.split(r"[,\n;]+", text):
        item = _BULLET.sub("", raw.strip()).strip(" \t.\"'`*_")
        item = " ".join(item.split())
        if not item or len(item.split()) > MAX_FEATURE_WORDS:
            continue
        features.setdefault(item.casefold(), item)
        if len(features) >= MAX_FEATURES:
            break
    return list(features.values())


def _missing_packages(quantize: str | None) -> list[str]:
    # transformers 5 builds the IDEFICS2 image processor only when torchvision is importable.
    needed = ["torch", "torchvision", "transformers", "peft", "accelerate"] + (["bitsandbytes"] if quantize else [])
    return [name for name in needed if importlib.util.find_spec(name) is None]


def _offline() -> bool:
    return any(
        os.environ.get(v, "").strip().lower() in ("1", "true", "yes", "on")
        for v in ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE")
    )


class VpeExtractor:
    """The method's extractor: IDEFICS2-8b with the VPE LoRA adapter, greedy decoding, on a GPU.

    Loading is lazy (first `extract`) or explicit (`load()`, which a worker calls at start-up).
    Every way loading can fail ends in `ModelUnavailable` with what to do about it.
    """

    name = "vpe"

    def __init__(
        self,
        *,
        model_id: str = VPE_MODEL_ID,
        adapter_id: str | None = VPE_ADAPTER_ID,
        device: str | None = None,
        quantize: str | None = None,
        max_new_tokens: int = VPE_MAX_NEW_TOKENS,
        cache_dir: str | None = None,
        local_files_only: bool | None = None,
        merge_adapter: bool = True,
    ) -> None:
        if quantize not in (None, "4bit"):
            raise InvalidArgument(f"quantize must be None or '4bit', got {quantize!r}", argument="quantize")
        if not isinstance(max_new_tokens, int) or not 1 <= max_new_tokens <= 8192:
            raise InvalidArgument("max_new_tokens must be an integer from 1 to 8192", argument="max_new_tokens")
        self.model_id = model_id
        self.adapter_id = adapter_id
        self.device = device
        self.quantize = quantize
        self.max_new_tokens = max_new_tokens
        self.cache_dir = cache_dir
        self.local_files_only = local_files_only
        self.merge_adapter = merge_adapter
        self.version = f"{model_id}+{adapter_id or 'no-adapter'}" + (f"+{quantize}" if quantize else "")
        self._processor = None
        self._model = None
        # The worker runs jobs in threads: one load (16 GB) and one generation at a time per model.
        self._lock = threading.RLock()

    # --- loading ---------------------------------------------------------------------------------

    def load(self) -> None:
        with self._lock:
            if self._model is None:
                self._load()

    def _load(self) -> None:
        missing = _missing_packages(self.quantize)
        if missing:
            raise ModelUnavailable(
                f"the vpe extractor needs {', '.join(missing)}: install them with pip install 'viper-bot[vpe]' "
                "(plus the CUDA builds of torch and torchvision on the GPU host), or use the lexicon backend"
            )
        import torch

        device = self.device or ("cuda" if torch.cuda.is_available() else None)
        if device is None:
            raise ModelUnavailable(
                "the vpe extractor needs a CUDA GPU (IDEFICS2-8b in fp16 needs about 17 GB of GPU memory, "
                "about 6 GB with quantize='4bit'); run the worker on a GPU host or use the lexicon backend"
            )
        local_only = _offline() if self.local_files_only is None else self.local_files_only
        hub = {"cache_dir": self.cache_dir, "local_files_only": local_only}
        processor = self._load_processor(hub)
        adapter = self._resolve_adapter(hub)
        self._model = self._load_model(torch, device, hub, adapter)
        self._processor = processor

    def _unavailable(self, what: str, repo: str, exc: BaseException, local_only: bool) -> ModelUnavailable:
        where = "the local cache" if local_only else "the Hugging Face hub"
        fix = (
            f"download it first where there is network access (hf download {repo}), or unset HF_HUB_OFFLINE"
            if local_only
            else "check network access to huggingface.co, the repository id, and HF_TOKEN if it is gated"
        )
        detail = " ".join(str(exc).split()).rstrip(".")
        return ModelUnavailable(f"cannot load {what} from {where} ({type(exc).__name__}: {detail}). To fix: {fix}")

    def _load_processor(self, hub: dict):
        from transformers import AutoProcessor

        try:
            return AutoProcessor.from_pretrained(
                self.model_id, do_image_splitting=False, size=dict(VPE_IMAGE_SIZE), **hub
            )
        except (OSError, ValueError, ImportError) as exc:
            raise self._unavailable(
                f"the processor of {self.model_id}", self.model_id, exc, hub["local_files_only"]
            ) from exc

    def _resolve_adapter(self, hub: dict) -> str | None:
        """The adapter's local folder, fetched before the 16 GB base model so a missing adapter fails fast."""
        if not self.adapter_id:
            return None
        if os.path.isdir(self.adapter_id):
            return self.adapter_id
        from huggingface_hub import snapshot_download

        try:
            return snapshot_download(
                self.adapter_id, cache_dir=hub["cache_dir"], local_files_only=hub["local_files_only"]
            )
        except Exception as exc:  # the hub raises many error types; all mean "not available here"
            raise self._unavailable(
                f"the VPE adapter {self.adapter_id}", self.adapter_id, exc, hub["local_files_only"]
            ) from exc

    def _load_model(self, torch, device: str, hub: dict, adapter: str | None):
        from transformers import AutoModelForImageTextToText

        kwargs: dict[str, Any] = {"dtype": torch.float16 if device.startswith("cuda") else torch.float32, **hub}
        if self.quantize == "4bit":
            from transformers import BitsAndBytesConfig

            kwargs["quantization_config"] = BitsAndBytesConfig(
                load_in_4bit=True, bnb_4bit_quant_type="nf4", bnb_4bit_compute_dtype=torch.float16
            )
            kwargs["device_map"] = {"": device}
        try:
            model = AutoModelForImageTextToText.from_pretrained(self.model_id, **kwargs)
        except (OSError, ValueError, ImportError) as exc:
            raise self._unavailable(f"the model {self.model_id}", self.model_id, exc, hub["local_files_only"]) from exc
        except RuntimeError as exc:  # CUDA out of memory and friends
            raise ModelUnavailable(f"cannot place {self.model_id} on {device}: {exc}. Try quantize='4bit'") from exc
        if self.quantize is None:
            model = model.to(device)
        if adapter is not None:
            from peft import PeftModel

            try:
                model = PeftModel.from_pretrained(model, adapter)
            except (OSError, ValueError, KeyError) as exc:
                raise ModelUnavailable(f"cannot apply the VPE adapter from {adapter}: {exc}") from exc
            if self.merge_adapter and self.quantize is None:
                model = model.merge_and_unload()  # same maths, one matmul per layer instead of three
        model.eval()
        return model

    # --- extraction ------------------------------------------------------------------------------

    def extract(self, comments: Sequence[Comment] | None) -> ExtractResult:
        messages, images = build_vpe_messages(comments)
        if len(messages[0]["content"]) == 1:  # nothing but the instruction: no comment to read
            return ExtractResult([], [], backend=self.name, backend_version=self.version)
        self.load()
        text = self.generate(messages, images)
        liked, disliked = parse_features(text)
        return ExtractResult(liked, disliked, backend=self.name, backend_version=self.version)

    def generate(self, messages: list[dict], images: list) -> str:
        """Run the model on prepared messages and return only the newly generated text."""
        import torch

        self.load()
        processor, model = self._processor, self._model
        prompt = processor.apply_chat_template(messages, add_generation_prompt=True)
        inputs = processor(text=prompt, images=images or None, return_tensors="pt")
        device = next(model.parameters()).device
        inputs = {k: v.to(device) for k, v in inputs.items()}
        dtype = getattr(model, "dtype", None)
        if "pixel_values" in inputs and dtype is not None and dtype.is_floating_point:
            inputs["pixel_values"] = inputs["pixel_values"].to(dtype)
        try:
            with self._lock, torch.inference_mode():
                output = model.generate(
                    **inputs,
                    max_new_tokens=self.max_new_tokens,
                    do_sample=False,
                    repetition_penalty=VPE_REPETITION_PENALTY,
                )
        except RuntimeError as exc:
            raise JobFailed(f"the vpe extractor failed while generating: {type(exc).__name__}: {exc}") from exc
        new_tokens = output[:, inputs["input_ids"].shape[1] :]
        return processor.batch_decode(new_tokens, skip_special_tokens=True)[0]
