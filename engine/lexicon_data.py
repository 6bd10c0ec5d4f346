# Data table: the lexicon's vocabulary and word lists, long by nature (the rules are engine/lexicon_*.py).
"""The lexicon backend's tables, as plain text: vocabulary, category words, cue words, negators.

Kept apart from the rules (engine/lexicon_*.py) so that growing the vocabulary is an edit to data, and
kept as a Python module rather than .txt files so it ships inside the wheel with no packaging setup.

Format of the vocabulary: one attribute per line, ``canonical: synonym, synonym, ...``. The canonical
name is what lands in a profile and in the SDXL prompt, so it is a phrase an image model
understands. Matching is on whole words after normalisation (lower case, accents removed, British
spellings and hyphens folded), and a plural of each phrase's last word is added automatically.
A phrase may mean one thing only: the builder fails loudly on a phrase claimed twice.
"""

from __future__ import annotations

# Nineteen categories (the issue asks for about 20). A category matters in two places: a profile
# can be read by category, and a vague comment ("love the colours") resolves to the answered
# image's tags in the categories its word names (CATEGORY_WORDS below).
VOCABULARY: dict[str, str] = {
    # Named colours: what a member points at ("the teal", "that mustard").
    "color": """
        red: red, scarlet, vermilion, cherry red, tomato red, fire engine red
        crimson: crimson, blood red, deep red, dark red
        burgundy: burgundy, maroon, wine red, oxblood, wine, claret
        ruby red: ruby, ruby red
        raspberry: raspberry, raspberry pink
        pink: pink, rose pink, rosy
        hot pink: hot pink, fuchsia, neon pink, shocking pink, bubblegum pink
        blush pink: blush, blush pink, pale pink, light pink, baby pink, soft pink
        dusty rose: dusty rose, dusty pink, old rose, dusty pinks
        rose gold: rose gold
        magenta: magenta
        coral: coral
        salmon: salmon, salmon pink
        peach: peach, apricot, peachy
        orange: orange, tangerine, bright orange
        burnt orange: burnt orange, dark orange
        marigold: marigold, saffron
        amber: amber, honey, honey gold
        caramel: caramel, toffee
        rust: rust, rusty, rust red
        copper: copper, coppery
        bronze: bronze, bronzy
        gold: gold, golden, gilded, gilt, dark gold, gold leaf
        champagne: champagne
        yellow: yellow, lemon, bright yellow, lemon yellow, canary yellow, sunny yellow
        mustard: mustard, mustard yellow
        pale yellow: pale yellow, butter yellow, light yellow, buttery yellow
        green: green, greenish
        lime green: lime, lime green, chartreuse, acid green, neon green
        emerald: emerald, emerald green
        jade: jade, jade green
        forest green: forest green, dark green, deep green, pine green, bottle green, hunter green
        moss green: moss, moss green
        olive green: olive, olive green, khaki, army green
        sage green: sage, sage green
        mint: mint, mint green, seafoam, pistachio
        teal: teal, teal blue, blue green, bluish green, petrol blue, dark teal
        turquoise: turquoise, aqua, aquamarine
        cyan: cyan
        blue: blue, bluish
        sky blue: sky blue, light blue, azure, cerulean
        baby blue: baby blue, powder blue, pale blue
        ice blue: ice blue, icy blue, glacier blue, icy blues, pale icy blue
        electric blue: electric blue, neon blue
        cobalt blue: cobalt, cobalt blue, royal blue, ultramarine
        sapphire blue: sapphire, sapphire blue
        denim blue: denim, denim blue
        steel blue: steel blue, steely blue
        prussian blue: prussian blue
        navy: navy, navy blue, dark blue, midnight blue, deep blue
        indigo: indigo, indigo blue
        purple: purple, deep purple, purples
        plum: plum, aubergine, eggplant
        violet: violet
        lavender: lavender, lilac, periwinkle
        amethyst: amethyst
        mauve: mauve
        brown: brown, chocolate, umber, coffee, chocolate brown, browns
        sienna: sienna, burnt sienna
        terracotta: terracotta, terra cotta, clay red
        ochre: ochre, ocher, yellow ochre
        beige: beige, sand, sandy, tan, taupe, buff
        cream: cream, off white, eggshell, creamy
        ivory: ivory, bone white
        pearl white: pearl, pearl white, pearly
        white: white, snow white, pure white, whites
        black: black, jet black, pitch black, inky black, blacks
        gray: gray, gray tones, grays
        charcoal: charcoal, charcoal gray
        silver: silver, silvery
        slate gray: slate, slate gray, slate blue
        sepia: sepia, sepia tone
    """,
    # How colours are used together: temperature, saturation, schemes.
    "palette": """
        warm colors: warm colors, warm tones, warm palette, warm hues, warm color, warm, warmth, warmer, warmer tones, warmer colors
        cool colors: cool colors, cool tones, cool palette, cold colors, cold tones, cool hues, cool color, cooler colors, cooler tones, cooler palette
        pastel colors: pastel, pastel colors, pastel tones, pastel palette, soft colors, pastel shades
        candy colors: candy colors, candy colored, sugary colors, sherbet colors
        neon colors: neon, neon colors, fluorescent, day glo, dayglo, neon palette
        vibrant colors: vibrant, vibrant colors, vivid, vivid colors, saturated, saturated colors, bold colors, saturation, highly saturated, rich saturation, punchy colors, strong colors, intense colors
        bright colors: bright colors, bright palette, bright tones, brights, bright colours
        muted colors: muted, muted colors, muted tones, subdued colors, dusty colors, toned down colors, desaturated, muted palette
        faded colors: faded, faded colors, washed out, washed out colors, bleached, sun faded
        pale colors: pale colors, light colors, pale tones, light tones, pale palette, pale
        earth tones: earth tones, earthy, earthy colors, earth colors, natural tones, earthy tones, earthy palette
        neutral colors: neutral colors, neutral tones, neutrals, neutral palette
        jewel tones: jewel tones, jewel colors, rich colors, gem tones
        monochrome: monochrome, monochromatic, grayscale, single color, shades of gray, tonal palette
        black and white: black and white, b and w, b w
        primary colors: primary colors, primaries, primary palette
        complementary colors: complementary colors, complementary palette, contrasting colors
        analogous colors: analogous colors, analogous palette, neighboring colors
        duotone: duotone, two tone, two colors
        colorful: colorful, multicolored, multicolor, rainbow, more colors, more color, lots of color, lots of colors, many colors, rainbow colors
        dark palette: dark palette, dark colors, dark tones, dark, darker tones, deep colors, darker colors
        autumn colors: autumn colors, autumnal, fall colors, autumn palette, autumn tones
        spring colors: spring colors, spring palette, springtime colors
        wintry colors: wintry colors, winter palette, wintry
        green tones: green tones, shades of green, green palette, greens
        blue tones: blue tones, shades of blue, blue palette, blues
        pink tones: pink tones, shades of pink, pinks
        purple tones: purple tones, shades of purple, purple palette
        limited palette: limited palette, restricted palette, few colors
        flat colors: flat colors, flat color, solid colors, block colors, flat colour fills
        muddy colors: muddy, muddy colors, murky
        harmonious colors: harmonious colors, color harmony, colors that match, matching colors
        metallic colors: metallic colors, metallic palette, metallics
    """,
    # Named art movements and schools.
    "movement": """
        impressionism: impressionism, impressionist, impressionistic
        post impressionism: post impressionism, post impressionist, van gogh, cezanne
        expressionism: expressionism, expressionist, expressionistic
        abstract expressionism: abstract expressionism, pollock, action painting
        neo expressionism: neo expressionism, neo expressionist, basquiat
        cubism: cubism, cubist, picasso
        surrealism: surrealism, surreal, surrealist, dali, magritte
        dadaism: dadaism, dada, dadaist
        pop art: pop art, warhol, lichtenstein
        op art: op art, optical art, vasarely, bridget riley
        art nouveau: art nouveau, nouveau, mucha, jugendstil
        art deco: art deco, deco
        bauhaus: bauhaus
        constructivism: constructivism, constructivist
        de stijl: de stijl, mondrian, neoplasticism
        suprematism: suprematism, malevich
        futurism: futurism, futurist, italian futurism
        fauvism: fauvism, fauvist, fauve, matisse
        pointillism: pointillism, pointillist, pointillistic, seurat
        baroque: baroque, caravaggio, rembrandt
        rococo: rococo
        renaissance: renaissance, old masters, old master
        neoclassicism: neoclassicism, neoclassical
        romanticism: romanticism, turner
        pre raphaelite: pre raphaelite, pre raphaelites
        symbolism: symbolism, symbolist, klimt
        realism: realism, realistic, realist, lifelike, true to life
        color field: color field, color field painting, rothko, color fields
        hard edge painting: hard edge painting, hard edge abstraction
        minimal art: minimal art, minimalist art
        memphis style: memphis, memphis style, memphis design
        swiss style: swiss style, international typographic style
        ukiyo e: ukiyo e, ukiyoe, japanese woodblock, hokusai
        naive art: naive art, naive, childlike
        folk art: folk art, folkloric
        outsider art: outsider art, art brut
        pop surrealism: pop surrealism, lowbrow art, lowbrow
    """,
    # Genres and aesthetics a community would name.
    "style": """
        abstract: abstract, abstraction, non representational, nonrepresentational, abstract art
        fantasy art: fantasy, fantasy art, fantastical
        dark fantasy: dark fantasy
        science fiction: sci fi, science fiction, scifi
        futuristic: futuristic, space age
        cyberpunk: cyberpunk
        steampunk: steampunk
        solarpunk: solarpunk
        vaporwave: vaporwave
        synthwave: synthwave, outrun, retrowave
        gothic: gothic, goth
        grunge: grunge, grungy
        anime: anime, manga, ghibli, studio ghibli
        cartoon: cartoon, cartoonish, cartoony, comic, comic book, comics
        storybook illustration: storybook, storybook illustration, picture book, children's book
        fairytale: fairytale, fairy tale, fairy tale like
        kawaii: kawaii, chibi
        cottagecore: cottagecore
        boho: boho, bohemian
        scandinavian design: scandinavian, scandinavian design, nordic design
        wabi sabi: wabi sabi
        zen: zen, zen like
        brutalism: brutalism, brutalist
        industrial: industrial
        pixel art: pixel art, pixelated, 8 bit, 16 bit, pixels
        low poly: low poly, lowpoly, polygonal
        glitch art: glitch, glitch art, glitchy, datamosh
        psychedelic: psychedelic, trippy
        optical illusion: optical illusion, illusion, illusory, trompe l'oeil, impossible geometry
        graffiti: graffiti, street art
        flat design: flat design, flat illustration, flat vector
        concept art: concept art, matte painting
        poster art: poster, poster art, poster style, propaganda poster
        tattoo art: tattoo, tattoo art, tattoo flash, flash art
        botanical illustration: botanical, botanical illustration
        blueprint: blueprint, technical drawing, schematic
        film noir: film noir
        lo fi: lo fi, lofi
        graphic design: graphic design, graphic, graphical
    """,
    # What it is made with.
    "medium": """
        oil painting: oil painting, oil paint, oils, oil on canvas, oil paintings
        watercolor: watercolor, aquarelle, watercolor painting, watercolor washes, wet on wet watercolor
        acrylic: acrylic, acrylic paint, acrylics
        gouache: gouache
        tempera: tempera, egg tempera
        fresco: fresco
        ink: ink, ink drawing, india ink, ink wash, ink washes, pen and ink
        sumi e: sumi e, japanese ink painting
        pencil sketch: pencil, pencil sketch, pencil drawing, graphite, sketch, sketched
        colored pencil: colored pencil, colored pencils, coloured pencil
        charcoal drawing: charcoal drawing, charcoal sketch, charcoal drawings
        pastel drawing: pastel drawing, chalk pastel, oil pastel, chalk
        crayon: crayon
        marker drawing: marker, markers, marker drawing, felt tip
        ballpoint pen: ballpoint, ballpoint pen, biro
        digital art: digital art, digital painting, digital
        3d render: 3d render, 3d rendering, cgi, rendered, blender render, 3d renders, cg
        clay: clay, claymation, plasticine
        sculpture: sculpture, sculptural, sculpted
        photography: photography, photo, photograph, photographic
        film photography: film photography, analog film, analog photo, 35mm, film photo
        polaroid: polaroid, instant photo
        collage: collage
        mixed media: mixed media
        mosaic: mosaic, tesserae
        stained glass: stained glass, leaded glass, stained glass window
        vector art: vector, vector art, vector illustration
        linocut: linocut, woodcut, woodblock print, block print, carved lines
        etching: etching, engraving, engraved, drypoint
        lithograph: lithograph, lithography
        screen print: screen print, screenprint, silkscreen, risograph, riso, screen printed
        halftone: halftone, ben day dots, benday dots
        airbrush: airbrush, airbrushed
        spray paint: spray paint, spray painted, aerosol
        illustration: illustration, illustrated, illustrative
        paper cutout: paper cut, paper cutout, papercut, cut paper
        origami: origami, folded paper
        embroidery: embroidery, embroidered, cross stitch, needlework
        tapestry: tapestry, quilt, quilted, quilting, patchwork
    """,
    # How the surface looks and would feel.
    "texture": """
        grainy texture: grainy, grain, film grain, grainy texture, noisy, noise, speckled
        smooth: smooth, smooth texture, sleek, silky
        rough texture: rough, rough texture, coarse, gritty, rugged
        glossy: glossy, shiny, gloss, lacquered, polished surface, wet look
        matte: matte, matt, flat finish, matte finish
        metallic: metallic, metal, chrome, chromed, foil
        glittery: glitter, glittery, sparkly, sparkles, sparkling, shimmering, shimmer
        iridescent: iridescent, holographic, opalescent, pearlescent
        translucent: translucent, transparent, transparency, see through, sheer, glassy, glass
        frosted: frosted, frosted glass, frosty
        marbled: marbled, marble, marbling
        crackled: crackled, cracked, craquelure, weathered, distressed, worn, scratched
        paper texture: paper texture, textured paper, paper grain, handmade paper, rough paper
        canvas texture: canvas texture, canvas, linen
        woven texture: woven, weave, woven texture, fabric, textile, knitted, knit, fabric textures
        soft texture: soft texture, velvety, velvet, fuzzy, furry, plush, fluffy
        textured: textured, tactile, heavily textured, texture rich, lots of texture, much texture, more texture
        wood grain: wood grain, wooden, wood texture
        stone texture: stone, stone texture, stony, rocky texture
        concrete texture: concrete, cement
        chalky texture: chalky, powdery
        plastic look: plastic, plasticky, plastic looking
        embossed: embossed, relief, raised texture
    """,
    # Marks of the brush or tool.
    "brushwork": """
        visible brushstrokes: brushstrokes, brush strokes, visible brushstrokes, painterly, brushy, visible strokes, visible brush strokes, chunky brushwork, chunky brushstrokes, thick brushstrokes, bold brushstrokes
        impasto: impasto, thick paint, heavy paint
        loose brushwork: loose, loose brushwork, loose strokes, gestural, expressive strokes, gestural abstraction
        fine brushwork: fine brushwork, delicate strokes, precise, precision, meticulous
        dry brush: dry brush, drybrush, scratchy strokes
        palette knife: palette knife, knife painting
        smudged: smudged, smudgy, smeared, blended
        wet on wet: wet on wet, bleeding colors, bleeds
        splatter: splatter, splattered, drips, dripping, paint drips, splashes, drips of paint
        stippling: stippling, stippled
        cross hatching: cross hatching, crosshatching, hatching, hatched
    """,
    # The quality of lines and edges.
    "line": """
        flowing lines: flowing lines, flowing, flow, fluid lines, fluid, flowy, wavy lines, wavy, undulating, sinuous, waves, wave lines
        curved lines: curved lines, curves, curvy, curving, arcs, curvilinear
        straight lines: straight lines, straight edges, ruler straight
        bold lines: bold lines, thick lines, heavy lines, strong lines, heavy outlines, thick outlines, bold outlines
        thin lines: thin lines, fine lines, hairline, delicate lines, thin strokes
        clean lines: clean lines, crisp lines, sharp lines, clean linework
        sketchy lines: sketchy, scribbly, scribbled, scribbles, rough lines
        outlines: outlines, outline, outlined, black outlines
        hard edges: hard edges, hard edged, sharp edges, crisp edges, hard lines
        soft edges: soft edges, soft edged, feathered edges, blurred edges, blended edges, mushy edges, fuzzy edges
        diagonal lines: diagonal lines, diagonals, diagonal, slanted lines
        vertical lines: vertical lines, verticals, vertical stripes
        horizontal lines: horizontal lines, horizontals, horizontal stripes, horizontal bands
        zigzag: zigzag, zigzags, zig zag
        jagged lines: jagged, jagged lines, spiky
        contour lines: contour lines, contours, topographic lines, isolines
        line art: line art, lineart, line drawing, line drawings
        single line drawing: single line drawing, continuous line, one line drawing
        calligraphic lines: calligraphic, calligraphy, brush lettering
        swirling: swirling, swirls, swirl, swirly, whirling, vortex
    """,
    # Shapes and forms.
    "shape": """
        geometric: geometric, geometry, geometrical, angular, sharp angles
        geometric shapes: geometric shapes, squares, rectangles, polygons, hexagons
        circles: circles, circle, circular, round shapes, rings, orbs, spheres
        concentric circles: concentric, concentric circles, concentric rings, bullseye
        rounded shapes: rounded shapes, rounded, rounded forms, soft shapes
        triangles: triangles, triangle, triangular
        diamond shapes: diamond shapes, diamonds, lozenges
        star shapes: star shapes, stars, starburst
        arches: arches, arch, archways
        cubes: cubes, cube, cubic forms
        spiral: spiral, spiraling, spiralling, helix
        organic shapes: organic shapes, organic, organic forms, biomorphic, fluid shapes, natural shapes, blobs, blobby, amorphous
        faceted: faceted, facets, crystalline, prismatic, facet
        fragmented: fragmented, fractured, shattered, broken up
        abstract shapes: abstract shapes, abstract forms
    """,
    # Surface patterns.
    "pattern": """
        patterned: patterned, patterning
        repeating pattern: repeating pattern, repetitive pattern, repetition, repeating, tessellation, tessellated, seamless pattern, repeating patterns
        intricate patterns: intricate, intricate patterns, intricacy, elaborate patterns, complex patterns, ornate patterns, intricate patterning
        geometric pattern: geometric pattern, geometric patterns, geometric print
        floral pattern: floral, floral pattern, florals, flower pattern
        paisley: paisley
        damask: damask, brocade
        stripes: stripes, striped, stripy, stripey, bands of color
        checkerboard: checkerboard, checkered, chequered, checker, chessboard, checkerboard squares, checks, checked pattern
        plaid: plaid, tartan, gingham
        houndstooth: houndstooth
        herringbone: herringbone
        chevron: chevron, chevrons
        polka dots: polka dots, polka dot
        dots: dots, dotted, dot pattern
        grid: grid, gridded, tiled, tiles, modular
        mandala: mandala, rosette
        arabesque: arabesque, arabesques, moorish pattern
        celtic knot: celtic knot, celtic knots, knotwork
        fractal: fractal, fractals
        moire: moire, moire pattern
        animal print: animal print, leopard print, zebra print, snakeskin
        camouflage: camouflage, camo
        scale pattern: scales, scale pattern, fish scales
        honeycomb: honeycomb, hexagonal pattern
        maze: maze, labyrinth, labyrinthine
        topographic: topographic, topography, map like, cartographic
    """,
    # How the picture is arranged.
    "composition": """
        minimalist: minimalist, minimalism, minimal, simple, simplicity, clean, sparse, understated, uncluttered, less is more, minimalistic, plain, simple shapes, empty
        busy: busy, clutter, cluttered, crowded, nowhere to rest, nowhere for the eye to rest, too much to look at, overcrowded, too much going on, overloaded, packed, dense, maximalist, maximalism, crammed, cramped, chargé
        symmetrical: symmetrical, symmetry, symmetric, mirrored, mirror image
        asymmetrical: asymmetrical, asymmetry, asymmetric, off center
        radial symmetry: radial symmetry, radial, radiating, radially symmetric, kaleidoscope, kaleidoscopic
        centered composition: centered, central composition, centered composition
        rule of thirds: rule of thirds
        golden ratio: golden ratio, golden spiral, fibonacci
        leading lines: leading lines
        strong focal point: focal point, strong focal point, clear focal point
        negative space: negative space, empty space, white space, breathing room, open space, empty spaces
        layered: layered, layers, layering, multi layered, multilayered, overlapping, overlapping shapes
        gradient: gradient, gradation, ombre, color gradient, fading colors, smooth transitions, gradients
        color blocking: color blocking, color blocks, blocks of color, color blocked
        dynamic composition: dynamic composition, sense of movement, movement, motion, dynamism
        diagonal composition: diagonal composition
        scattered: scattered, scattered elements, sprinkled
        balanced: balanced, balance, harmonious, harmony, cohesive, well balanced
        dark background: dark background, black background, dark backdrop, dark ground, on black, against black, over black, on pitch black
        light background: light background, white background, pale background, on white, against white
        full frame: full frame, edge to edge, all over composition
    """,
    # Where the viewer stands.
    "perspective": """
        isometric: isometric, axonometric
        one point perspective: one point perspective, vanishing point, linear perspective, converging lines, deep perspective, perspective grid
        two point perspective: two point perspective
        forced perspective: forced perspective
        birds eye view: bird's eye view, birds eye view, aerial view, top down, overhead view, from above
        low angle: low angle, worm's eye view, worms eye view, from below, looking up
        eye level: eye level, straight on
        dutch angle: dutch angle, tilted angle, tilted horizon, canted angle
        orthographic view: orthographic, front view, elevation view
        flat perspective: flat perspective, two dimensional, 2d, flat look, flattened, no depth
        sense of depth: sense of depth, depth, deep space, receding, real depth
        atmospheric perspective: atmospheric perspective, aerial perspective, haze, hazy, misty, mist, fog, foggy
        3d effect: 3d effect, 3d, three dimensional, 3d look
        distorted perspective: distorted perspective, warped, distorted, distortion, skewed, bulging
    """,
    # How the picture is cut out of the world.
    "framing": """
        close up: close up, closeup, macro, zoomed in, extreme close up
        wide angle: wide angle, wide shot, fisheye, fish eye, long shot
        panoramic: panoramic, panorama, widescreen
        shallow depth of field: shallow depth of field, depth of field, blurry background, blurred background, background blur
        cropped: cropped, tight crop, tightly cropped
        border: border, borders, framed, picture frame, decorative border
        frame within a frame: frame within a frame, framing device
        portrait format: portrait format, vertical format, tall format
        landscape format: landscape format, horizontal format
        square format: square format
    """,
    "lighting": """
        soft lighting: soft lighting, soft light, gentle light, gentle lighting, diffused light, diffuse light, soft glow, softly lit, soft lit
        harsh lighting: harsh lighting, harsh light, hard light, hard lighting
        warm lighting: warm lighting, warm light, warm glow, warm side light, warm lights
        cool lighting: cool lighting, cool light, cold light, blue light, cold lighting
        dramatic lighting: dramatic lighting, dramatic light, theatrical lighting, stage lighting
        spotlight: spotlight, spotlit, spot light
        side lighting: side lighting, side light, side lit, raking light
        studio lighting: studio lighting, studio light
        backlighting: backlighting, backlit, back lit, rim light, rim lighting
        golden hour: golden hour, sunset light, golden light
        blue hour: blue hour, twilight, dusk light
        natural light: natural light, natural lighting, daylight, sunlight, sunlit
        dappled light: dappled light, dappled, dappled sunlight
        neon lighting: neon lighting, neon lights, neon light, neon glow, neon signs
        glowing: glowing, glow, luminous, luminescent, bioluminescent, radiant, glowy, glows
        chiaroscuro: chiaroscuro, tenebrism, light and shadow, play of light and shadow
        dim lighting: dim, dim lighting, low light, dark lighting, moody lighting, shadowy
        bright lighting: bright lighting, well lit, bright light, more light
        cinematic lighting: cinematic, cinematic lighting, filmic
        light rays: light rays, god rays, sunbeams, sun rays, volumetric light, volumetric lighting, crepuscular rays
        candlelight: candlelight, candle light, candlelit, firelight
        moonlight: moonlight, moonlit
        reflections: reflections, reflection, reflective, mirror like
        lens flare: lens flare
        vignette: vignette, vignetting, dark corners
        bokeh: bokeh, out of focus lights, light orbs
    """,
    "shadow": """
        deep shadows: deep shadows, dark shadows, heavy shadows, strong shadows
        long shadows: long shadows
        soft shadows: soft shadows, gentle shadows, subtle shadows
        hard shadows: hard shadows, sharp shadows, crisp shadows
        cast shadows: cast shadows, drop shadow, drop shadows
        silhouettes: silhouette, silhouetted
        flat shading: flat shading, no shading, unshaded
        cel shading: cel shading, cel shaded, toon shading
    """,
    # Light and dark, as a whole.
    "tone": """
        high contrast: high contrast, contrasty, strong contrast, stark contrast, contrast, punchy, contrasts
        low contrast: low contrast, soft contrast, flat lighting
        high key: high key, airy, light and airy
        low key: low key
        overexposed: overexposed, blown out
        underexposed: underexposed
    """,
    # Mood and atmosphere.
    "mood": """
        calm: calm, calming, serene, serenity, peaceful, tranquil, quiet, relaxing, soothing, restful, sleepy, stillness, gentle
        dreamy: dreamy, dreamlike, dream like, ethereal, otherworldly, dream
        mysterious: mysterious, mystery, enigmatic, cryptic
        mystical: mystical, magical, magic, enchanted, enchanting, spiritual, sacred
        gloomy: gloomy, melancholic, melancholy, somber, sombre, bleak, sad, moody, brooding, dark mood, dark atmosphere
        eerie: eerie, creepy, haunting, haunted, spooky, unsettling, uncanny, ominous, sinister, disturbing, uneasy
        nightmarish: nightmarish, nightmare, horror, macabre, grotesque
        whimsical: whimsical, playful, quirky, lighthearted, light hearted, fanciful, silly
        joyful: joyful, cheerful, happy, uplifting, upbeat, sunny, cheery
        hopeful: hopeful, optimistic
        festive: festive, celebratory
        energetic: energetic, dynamic, lively, full of energy, vibrant energy
        tense: tense, tension, anxious, nervous, edgy
        aggressive: aggressive, violent, angry, hostile
        nostalgic: nostalgic, nostalgia, wistful
        romantic: romantic, tender, sensual
        innocent: innocent, wholesome, pure
        dramatic: dramatic, intense, epic, grand, powerful
        majestic: majestic, monumental
        elegant: elegant, elegance, refined, graceful, sophisticated, classy, tasteful
        luxurious: luxurious, luxury, opulent, expensive, lavish, regal
        cozy: cozy, cosy, homey, inviting, comforting, cozier, cosier
        chaotic: chaotic, chaos, frantic, frenetic, hectic, messy
        cold atmosphere: cold, sterile, clinical, detached, chilly, icy feel
        lonely: lonely, isolated, solitary, desolate
        atmospheric: atmospheric, moody atmosphere
        bold: bold, daring
        hypnotic: hypnotic, mesmerizing, mesmerising, trance like
        smoky: smoky, smokey, smoke
        artificial: artificial, fake, synthetic, overprocessed, artificial look
    """,
    # How much is drawn.
    "detail": """
        highly detailed: highly detailed, detailed, intricate details, lots of detail, fine detail, rich detail, elaborate, hyper detailed, ultra detailed, sharp detail, fine details, more detail, more details
        low detail: low detail, simplified, little detail, lacking detail, lacks detail, simplistic, basic
        sharp focus: sharp, sharp focus, crisp, crisp details, in focus, razor sharp, high resolution, hi res, 4k
        soft focus: soft focus, blurry, blurred, blur, out of focus, unfocused, fuzzy focus
        ornate: ornate, ornamental, decorative, embellished, filigree
        polished: polished, slick, professional, clean finish, polish, glossy finish
        unfinished: unfinished, rough sketch, incomplete, raw
        hand drawn: hand drawn, handmade, hand made, hand painted, handcrafted, human touch, the hand of the artist
        stylized: stylized, stylised, stylization
        photorealistic: photorealistic, photorealism, hyperrealistic, hyperrealism, hyper realistic
    """,
    # When it looks like it was made.
    "era": """
        retro: retro, vintage, old fashioned, old school, throwback, old timey, old timely, retro looking
        medieval: medieval, illuminated manuscript
        victorian: victorian
        1920s: 1920s, twenties, roaring twenties
        1950s: 1950s, fifties, 50s
        mid century modern: mid century, mid century modern, atomic age
        1960s: 1960s, sixties, 60s
        1970s: 1970s, seventies, 70s
        1980s: 1980s, eighties, 80s
        1990s: 1990s, nineties, 90s
        y2k: y2k, y2k aesthetic
        ancient: ancient, antique, antiquity
        contemporary: contemporary, modern
    """,
}

# Common words in French, German and Spanish for the features and cues members most often name, so
# a member on a multilingual server is not ignored. Each line: canonical attribute (which must exist
# above), then its translations. Deliberately a short core list: colours, palettes, a few media,
# styles and moods; anything else needs the VPE or OpenAI-compatible backends.
TRANSLATIONS = """
    red: rouge, rot, rojo, roja
    pink: rose, rosa
    orange: naranja
    yellow: jaune, gelb, amarillo, amarilla
    green: vert, verte, grun, verde
    blue: bleu, bleue, blau, azul
    ice blue: azul hielo, bleu glacier, bleu glace, eisblau
    navy: bleu marine, bleu fonce, dunkelblau, azul marino, azul oscuro
    turquoise: turquoise, turkis, turquesa
    purple: lila, morado
    violet: violette, violett, violeta
    brown: marron, braun, marron, cafe
    gold: dore, doree, golden, dorado, dorada
    silver: argent, argente, silbern, plateado
    burgundy: bordeaux, weinrot, burdeos
    beige: beige
    white: blanc, blanche, weiss, blanco, blanca
    black: noir, noire, schwarz, negro, negra
    gray: gris, grau
    black and white: noir et blanc, schwarz weiss, blanco y negro
    warm colors: chaud, chaude, chaleureux, chaleureuse, chaleureuses, warme farben, warm farben, calido, calida, calidos, calidas
    cool colors: couleurs froides, kuhle farben, colores frios
    pastel colors: pastels, pastellfarben, pasteles
    neon colors: neon, neons, neones
    vibrant colors: couleurs vives, colores vivos, leuchtende farben, kraftige farben
    colorful: colore, coloree, colores vives, bunt, colorido, colorida
    pale colors: pale, pales, blass, palido, palida
    dark palette: fonce, foncee, dunkel, oscuro, oscura
    primary colors: couleurs primaires, primarfarben, colores primarios
    autumn colors: couleurs d'automne, couleurs automnales, herbstfarben, colores de otono
    monochrome: monochrome, einfarbig, monocromo
    gradient: degrade, farbverlauf, degradado
    watercolor: aquarelle, aquarell, acuarela
    oil painting: peinture a l'huile, olgemalde, pintura al oleo, oleo
    pixel art: pixelkunst
    stained glass: vitrail, vitraux, buntglas, vitral, vitrales
    minimalist: minimaliste, minimalistisch, minimalista, epure, schlicht, sencillo
    busy: charge, chargee, uberladen, recargado, recargada, unruhig, surcharge, surchargee
    calm: calme, paisible, ruhig, tranquilo, tranquila, sereno
    chaotic: chaotique, chaotisch, caotico, caotica
    dreamy: reveur, reveuse, vertraumt, sonador, sonadora
    romantic: romantique, romantisch, romantico, romantica
    gloomy: triste, traurig, melancolique, melancolico
    cold atmosphere: froid, froide, kalt, frio, fria
    elegant: elegante
    whimsical: ludique, verspielt, divertido, divertida
    joyful: joyeux, joyeuse, frohlich, alegre
    soft lighting: lumiere douce, weiches licht, sanftes licht, luz suave
    warm lighting: lumiere chaude, warmes licht, luz calida
    soft focus: flou, floue, verschwommen, unscharf, borroso, borrosa
    atmospheric perspective: brumeux, brumeuse, neblig, brumoso, brumosa
    symmetrical: symetrique, symmetrisch, simetrico, simetrica, symetrie, symmetrie, simetria
    flowing lines: fluide, fluides, fliessend, fliessende, fluido, fluida, fluidas, fluidos
    asymmetrical: asymetrique, asymmetrisch, asimetrico, asimetrica
    geometric: geometrique, geometrie, geometrisch, geometrie, geometrico, geometrica, geometria
    stripes: rayures, streifen, rayas
    grid: grille, raster, cuadricula
    circles: cercles, kreise, circulos
    triangles: dreiecke, triangulos
    swirling: tourbillons, wirbel, remolinos
    layered: couches, schichten, capas
    soft shadows: ombres douces, weiche schatten, sombras suaves
    high contrast: contraste, kontrast, kontrastreich, contraste fuerte
    highly detailed: detaille, detaillee, detailliert, detallado, detallada
    cozy: gemutlich, acogedor, acogedora, douillet, aconchegante, accogliente, gezellig, knus
    teal: bleu canard, petrolblau, verde azulado
    contour lines: courbes de niveau, hohenlinien, curvas de nivel
    flowing lines: vagues, wellen, ondas, ondulado, ondulada
    woven texture: tejido, tejidos, tissage, tisse, gewebt, tecido, tessuto, geweven
    embroidery: bordado, bordados, broderie, stickerei, ricamo, borduurwerk
    vignette: vineta, vinheta, vignettatura
    terracotta: terracota
    ochre: ocre, ocker, oker
    beige: bege
    brown: marrom, marrone, bruin
    gray: cinza, grigio, grigia, grijs
    black and white: preto e branco, bianco e nero, zwart wit, zwart en wit
    gold: oro, ouro, goud, dourado
    silver: prata, argento, zilver
    navy: azul marinho, blu notte, marineblauw, donkerblauw
    hot pink: rosa choque, rosa shocking, knalroze
    dusty rose: rosa antico, vieux rose, oudroze
    mauve: malva, malve
    red: rosso, rossa, vermelho, vermelha, rood
    orange: arancione, laranja, oranje
    yellow: giallo, gialla, amarelo, amarela, geel
    green: verde, groen
    blue: blu, azzurro, azzurra, blauw
    baby blue: azzurri, azzurro chiaro, azul bebe, lichtblauw
    purple: viola, roxo, roxa, paars
    white: bianco, bianca, branco, branca, wit
    black: nero, nera, preto, preta, zwart
    warm colors: caldo, calda, caldi, calde, quente, quentes, warme kleuren
    cool colors: colori freddi, cores frias, koele kleuren
    pastel colors: pastello, pastelli, colori pastello, pasteis, tons pasteis, tons pastel, pastelkleuren
    neon colors: neon, neonkleuren, neonfarben, neonfarbe
    colorful: colorato, colorata, colorati, colorido, colorida, coloridas, coloridos, kleurrijk, kleurig
    pale colors: pallido, pallida, palido, flets
    dark palette: scuro, scura, escuro, escura, donker
    watercolor: acquerello, aquarela, waterverf
    minimalist: minimalista, minimalistisch
    busy: carregado, carregada, druk
    calm: calma, calmo, sereno, serena, tranquilo, rustig, kalm
    gloomy: triste, cupo, cupa, sombrio, somber, somber
    dreamy: sognante, sogno, sonhador, dromerig
    geometric: geometrico, geometrica, geometrisch
    stripes: strisce, listras, strepen
    dots: pontinhos, bolinhas, puntini, stippen
    grid: griglia, grade, raster
    soft lighting: luce morbida, luce soffusa, luz suave, zacht licht
    soft focus: sfocato, sfocata, sfocate, desfocado, wazig
    atmospheric perspective: foschia, nebbia, neblina, mist, nevel
    high contrast: contrasto, contraste, contrast
    artificial: kunstlich, artificiale, artificial, kunstmatig
    joyful: vrolijk, allegro, allegra, alegre
    paper texture: papierstruktur, papiertextur, texture du papier
    golden hour: abendsonne, abendlicht, luce del tramonto
    plaid: karomuster, kariert, scozzese, xadrez, geruit
    green tones: grunt one, grunttone, tons de verde, toni di verde, groentinten
    primary colors: primaire kleuren, colori primari, cores primarias
    hard edges: harde randen, harte kanten, bordi netti
    vibrant colors: felle kleuren, colori vivaci, cores vivas
    color blocking: blokken, farbblocke
"""

# Words that name an aspect without saying which feature ("love the colours"). They resolve to the
# answered image's tags in the categories listed, as the method asks of its model.
CATEGORY_WORDS: dict[str, tuple[tuple[str, ...], str]] = {
    "colors": (
        ("color", "palette"),
        "color, colors, coloring, palette, color palette, color scheme, color choice, color choices, tones, hues, "
        "hue, shades, tints, color combination, color combo, couleurs, couleur, farben, farbe, colores",
    ),
    "texture": (("texture",), "texture, textures, surface, surfaces, finish, textur, textura"),
    "lighting": (("lighting", "shadow"), "lighting, light, lights, illumination, lumiere, licht, luz"),
    "shadows": (("shadow",), "shadows, shading, shadow, ombres, schatten, sombras"),
    "composition": (("composition",), "composition, layout, arrangement, structure, komposition, composicion"),
    "shapes": (("shape",), "shapes, forms, formes, formen, formas"),
    "patterns": (("pattern",), "pattern, patterns, print, prints, motif, motifs, muster, patron"),
    "style": (
        ("movement", "style", "medium", "era"),
        "style, aesthetic, aesthetics, art style, look, stil, estilo",
    ),
    "mood": (
        ("mood",),
        "mood, vibe, vibes, atmosphere, feel, feeling, ambience, ambiance, energy, ambiente, stimmung",
    ),
    "medium": (("medium", "brushwork"), "medium, technique, materials, technik, tecnica"),
    "lines": (("line", "brushwork"), "lines, linework, line work, strokes, lignes, linien, lineas"),
    "brushwork": (("brushwork",), "brushwork, brushstroke work"),
    "perspective": (("perspective", "framing"), "perspective, angle, viewpoint, point of view, perspektive, perspectiva"),
    "detail": (("detail",), "detail, details, detailing, detalles"),
}

# A plain colour word stands for the answered image's own shade of it: "the pink" on an image tagged
# "hot pink" is that hot pink, as a reader looking at the picture takes it. Used only when exactly one
# of the image's tags is in the word's family; otherwise the plain word is kept.
GROUNDING: dict[str, tuple[str, ...]] = {
    "pink": ("hot pink", "blush pink", "dusty rose", "raspberry", "magenta"),
    "blue": (
        "navy", "cobalt blue", "sky blue", "baby blue", "ice blue", "electric blue", "sapphire blue",
        "denim blue", "steel blue", "prussian blue",
    ),
    "red": ("crimson", "ruby red", "burgundy"),
    "green": ("lime green", "emerald", "jade", "forest green", "moss green", "olive green", "sage green"),
    "orange": ("burnt orange",),
    "yellow": ("mustard", "pale yellow", "marigold"),
    "purple": ("violet", "lavender", "plum", "amethyst", "mauve"),
    "brown": ("sienna", "caramel"),
    "white": ("ivory", "pearl white"),
}

# A feature word can stand for a neighbouring feature the picture shows: "empty" on an image tagged
# "negative space" (and not "minimalist") is its negative space, "blurry" on a bokeh image its bokeh.
# Same rule as GROUNDING: used only when the image does not show the word's own feature and shows
# exactly one of these.
RELATED: dict[str, tuple[str, ...]] = {
    "green": ("green tones",),
    "blue": ("blue tones",),
    "pink": ("pink tones",),
    "purple": ("purple tones",),
    "minimalist": ("negative space",),
    "soft focus": ("bokeh", "soft edges"),
    "organic shapes": ("bokeh",),
    "circles": ("bokeh", "concentric circles"),
    "muddy colors": ("dark palette", "muted colors"),
    "gloomy": ("dark palette",),
    "duotone": ("limited palette", "black and white"),
    "sharp focus": ("hard edges",),
    "soft texture": ("soft edges",),
    "cold atmosphere": ("cool colors",),
    "faded colors": ("muted colors", "low contrast"),
    "dramatic": ("dramatic lighting",),
    "geometric shapes": ("low poly", "grid"),
    "checkerboard": ("op art",),
    "cartoon": ("pop art",),
    "bold lines": ("outlines",),
    "wet on wet": ("watercolor",),
    "straight lines": ("hard edges",),
}

# Words that name a feature only when the answered image shows it: on a pastel image "sugary" is
# its pastel palette, in a comment on nothing it is no feature at all. A reader looking at the
# picture resolves them this way; none of them is a phrase of the main vocabulary.
EVOCATIONS = """
    negative space: emptiness, whitespace, lots of air, plenty of air, room to breathe, space around it, blank space, breathing space, nothing around it
    pastel colors: sugary, candyfloss, cotton candy, sugar sweet, baby shower, nursery colors, ice cream colors
    neon colors: acid, acidic, fluo, rave, highlighter, glowstick, radioactive, glow stick
    hard edges: clean edges, edges are sharp, edges are crisp
    soft edges: mushy, feathered, blurry edges, bleeding edges, edges bleed, smudgy edges
    bokeh: light blobs, blurry lights, fuzzy lights, orbs of light, bubbles, fairy lights, blurred lights
    gradient: fade, fades, blend, blends, blending, transition
    grid: boxes, squares in rows
    stripes: bands, banding
    concentric circles: ripples, target, rings within rings
    flowing lines: ribbons, swoosh, swooshes
    spiral: whirlpool, spinning, coil, swirl pattern
    topographic: map, survey map, hiking map, elevation lines, contour map, wanderkarte
    woven texture: cloth, flannel, blanket, wolldecke
    halftone: newsprint, printer's dots, comic dots
    stained glass: cathedral window, church window
    outlines: black lines, keylines, keyline, lead lines, leading between
    mosaic: little tiles
    watercolor: washes, wet paper
    layered: ridges, stacked, one behind the other
    sense of depth: distance
    low poly: computery, video game, ps1, polygon
    light rays: beams, shafts of light, rays
    optical illusion: giddy, migraine, vibrating, wobbly, moving
    sepia: old photo, old photograph, tea stained, yellowed, old letter
    muted colors: drab, washed, toned down, greyish
    earth tones: mud, soil, clay colors
    limited palette: couple of colors, two colors only
    repeating pattern: repeats
    metallic: steel, metal y
    checkerboard: chequers
    glowing: aglow, lit up
    dark background: black backdrop
    warm colors: sunset colors, fiery colors
"""

# Verdict words that are about one aspect: "garish" judges colours. With no feature named in its
# clause, such a word acts like that aspect's vague word ("garish" = "the colours are garish").
ASPECT_CUES = {"garish": "colors", "gaudy": "colors", "clash": "colors", "clashes": "colors", "clashing": "colors"}

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
    "charge": -1,
    "messy": -1,
    "muddy": -1,
    "murky": -1,
    "muddy colors": -1,
    "washed out": -1,
    "lacking detail": -1,
    "lacks detail": -1,
    "simplistic": -1,
    "blurry": -1,
    "unfocused": -1,
    "unfinished": -1,
    "artificial": -1,
    "fake": -1,
    "synthetic": -1,
    "overprocessed": -1,
    "plasticky": -1,
    "empty": -1,
    "plain": -1,
    "chaotic": -1,
    "chaos": -1,
    "cold": -1,
    "sterile": -1,
    "clinical": -1,
    "chilly": -1,
    "froid": -1,
    "kalt": -1,
    "frio": -1,
    "sad": -1,
    "triste": -1,
    "traurig": -1,
    "old fashioned": -1,
    "basic": -1,
    "clutter": -1,
    "nowhere to rest": -1,
    "nowhere for the eye to rest": -1,
    "too much to look at": -1,
    "unruhig": -1,
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

# Cue phrases: how a member says they like or dislike something. Longer phrases win over the words
# inside them ("leaves me cold" is a cue, not "cold"), so idioms go here whole.
POSITIVE_CUES = """
    love, loved, loves, loving, lovely, luv, like, liked, likes, liking, beautiful, beautifully, beauty,
    gorgeous, great, nice, nicely, amazing, awesome, stunning, perfect, perfectly, perfection, enjoy,
    enjoyed, enjoying, enjoyable, adore, adored, fan, appreciate, appreciated, prefer, preferred,
    wonderful, pleasing, pleasant, fantastic, brilliant, excellent, fabulous, incredible, pretty, cool,
    anything better than, nothing better than, nothing beats, can't beat, cannot beat, cant beat, beats,
    trumps, charm, cute, charming, delightful, favorite, best, interesting, captivating, superb, works, work, working,
    worked, satisfying, attractive, appealing, appeals, appeal, impressive, wow, exquisite, magnificent,
    breathtaking, exciting, excited, good, neat, sweet, dig, digging, resonate, resonates, resonated,
    match, matches, gorgeously, lovelier, yes, yess, yesss, sublime, divine, stellar, fave, fav,
    in love with, into it, drawn to, obsessed, obsessed with, more of this, more of, needs, need, needed,
    could use, fun, adorable, strong, accomplished, masterful, well executed, skillful, compelling,
    evocative, arresting, lush, engaging, nailed, nails, clever, heaven, favor, favors, favored, don't mind, do not mind, what i look for,
    what i'm looking for, i look for, appealed, heavenly, my thing, my style, my taste, my aesthetic, my jam, my vibe,
    make me happy, makes me happy, made me happy, speaks to me, speak to me, moves me,
    move me, calls to me, chef's kiss, slaps, so good, top notch, admire, admired, admirable, effective,
    respond to, responds to, draws me in, draw me in, drew me in, pulls me in, goes hard, go hard, is sick,
    looks sick, what i come here for, what i'm here for, what i am here for,
    gives me life, treat for the eyes, eye candy, refreshing, striking, handled well,
    wouldn't change a thing, would not change a thing, ok, okay, alright, decent, fine, please,
    what's not to love, whats not to love, what's not to like, whats not to like, slap, a vibe, such a vibe, big vibe, thank, thanks, thank you, compliment, correct, hard to argue with,
    can't fault, cannot fault, cant fault, the dream, now we're talking, now we are talking, i'm into,
    im into, i am into, really into, mostly into, so into, nicer, better, prettier, winner, hits different,
    banger, immaculate, goated, peak, love love love, living for, i'm living for, here for it, i'm here for,
    perfecto, perfectos, perfecta, perfectas, mejor, perfetto, perfetta, bellissimo, bellissima,
    a w, w image, big w, always a w, is a w, goes crazy, go crazy, kinda hard, earns, holds up, sucker for,
    where my interest lies, pulls you in, pulls you right in, draws you in, no notes, whole personality,
    no contest, fight me, keep, keep the, add, push, more like this, i'm in, deceased, i'm deceased,
    bello, bella, belli, belle, stupendo, stupenda, adoro, amo, mi piace, mi piacciono, meraviglioso,
    meravigliosa, che bello, che bella, amei, perfeito, perfeita, lindo, linda, lindos, lindas, massa,
    incrivel, maravilhoso, maravilhosa, gostei, curti, mooi, prachtig, heerlijk, leuk, blij,
    geweldig, fantastisch, schitterend, prima, vind ik leuk, vind ik mooi, graag, bitte, lieber,
    j'adore, adore, aime, aimer, j'aime, magnifique, magnifiques, superbe, superbes, belle, belles, beau,
    beaux, joli, jolie, jolis, parfait, parfaite, genial, sublime, tres beau, tres belle, mon style,
    plait, plaisent, me plait,
    liebe, lieben, mag, mogen, schon, schone, schoner, schones, schonen, wunderschon, wunderschone, toll, tolle, toller, gefallt, gefallen, gefallt mir, perfekt,
    klasse, herrlich, prima,
    me encanta, me encantan, encanta, encantan, me gusta, me gustan, gusta, gustan, bonito, bonita,
    bonitos, bonitas, precioso, preciosa, preciosos, preciosas, hermoso, hermosa, perfecto, perfecta,
    maravilloso, maravillosa, genial
"""

NEGATIVE_CUES = """
    hate, hated, hates, hating, dislike, disliked, dislikes, ugly, boring, bored, bore, bores, bland,
    dull, harsh, garish, gaudy, tacky, awful, terrible, horrible, bad, worst, worse, meh, annoying,
    annoyed, overwhelming, overwhelmed, distracting, lifeless, cheap, unnatural, off putting, offputting,
    jarring, clash, clashes, clashing, unpleasant, painful, hurts, hurt, headache, nauseating, sickening,
    sloppy, amateurish, amateur, disappointing, disappointed, yuck, ew, eww, gross, mess, unmatched,
    mismatched, unbalanced, overdone, overkill, overpowering, overbearing, loud, ruin, ruins, ruined,
    spoils, weak, poor, poorly, confusing, generic, cliche, cliched, soulless, dated, eyesore,
    irritating, unappealing, unattractive, forgettable, hideous, repulsive, wrong, too much, too many,
    can't stand, cannot stand, cant stand, not for me, isn't for me, is not for me, not my thing,
    not my style, not my taste, not my cup of tea, no thanks, no thank you, don't care for,
    do not care for, turns me off, turn off, put off, puts me off, strains, not a fan, nothing special,
    uninspired, uninspiring, pointless, lazy, leaves me cold, left me cold, leave me cold,
    does nothing for me, do nothing for me, did nothing for me, doesn't do it for me, not into,
    falls flat, fall flat, gag, makes me gag, hurts my eyes, gives me a headache, give me a headache, gives me headaches, give me headaches, nah, nope, yikes, ugh,
    overrated, overused, played out, kitsch, kitschy, gimmick, gimmicky, tired, tiresome,
    dizzying, dizzy, nauseous, rigid, stiff, depressing, dead, heavy handed, try hard, trying too hard,
    pass, skip, feels heavy, looks heavy, a bit heavy, turn me off,
    a bit much, bit much, a little much, much too, get rid of, lose the, ditch the, least favorite,
    bother, bothers, bothered, forced, shallow, predictable, excessive, marred, marred by, stale, derivative,
    clumsy, awkward, muddled, lackluster, underwhelming, tedious, grating, stresses me out, stressful,
    overwrought, less so, not so much, cheapens, cheapen, cheapened, exhausting, crude, snooze, snoozefest,
    yawn, not it, feel nothing, feels nothing, makes me feel nothing, sick of, makes me sick, a touch heavy,
    a tad heavy, a little heavy, problem, the problem, issue, the issue, uninteresting, unimpressive, not feeling, not feelin, not sure about, unsure about, not convinced, not convinced by, on the fence about,
    mid, could live without, can live without, shame, a shame, shame about, what a shame, who asked for,
    nobody asked for, no one asked for, scrolling past, scroll past, i'm out, im out, hard pass, cringe,
    cringy, saccharine, sickly sweet, too sweet, blah, zero interest, not a chance, no way, nope to,
    kill the, drop the, allergic, nah to, screaming, won't sit still, indulgence, evasive, stuffy,
    brutto, brutta, noioso, noiosa, non mi piace, non fa per me, chato, chata, feio, feia, horrivel,
    nao gosto, sem graca, saai, lelijk, vreselijk, niks voor mij, niet mooi, nicht mein ding, nichts fur mich,
    kopfschmerzen, stort mich, storen mich, storen,
    deteste, detester, je deteste, horrible, moche, moches, ennuyeux, ennuyeuse, laide,
    agressif, agressive, non merci, bof, nein danke, no gracias,
    hasse, hassen, hasslich, langweilig, furchtbar, schrecklich, grell, nervig, kitschig,
    odio, odia, feo, fea, feos, feas, aburrido, aburrida, horrible, horroroso, no me gusta, no me gustan,
    cansino
"""

NEGATORS = """
    not, no, never, nor, neither, hardly, barely, hard to, impossible to, don't, doesn't, didn't, isn't, aren't, wasn't,
    weren't, can't, cannot, couldn't, won't, wouldn't, shouldn't, haven't, hasn't, dont, doesnt,
    didnt, isnt, arent, wasnt, werent, cant, wont, wouldnt, havent, hasnt, ain't, nothing, none,
    n, ne, pas, jamais, nicht, kein, keine, keinen, nie, nunca, tampoco, ni, nao, nada de, niet, geen, nessun, nessuna
"""

# Negators that follow what they negate ("mag ich nicht", "j'aime pas"): checked after a cue when
# nothing before it negates it.
POST_NEGATORS = "nicht, pas"

# These flip a feature they stand before ("less grain", "teal instead of yellow") but no cue.
FEATURE_NEGATORS = """
    less, fewer, without, instead of, rather than, free of, more than, better than, than, apart from,
    except for, other than,
    moins de, sans, weniger, ohne, menos, sin, en vez de, en lugar de, plutot que, statt, anstatt
"""

# A complaint about something missing: a negative cue that also negates what follows, so
# "it lacks contrast" comes out as contrast liked.
LACK_WORDS = "lack, lacks, lacking, lack of, lacking in, missing, absence of, devoid of, manque, fehlt, falta"

# A wish: the member wants what follows ("I wish it had more purple"), or wants it gone when a
# negator follows ("I wish it wasn't so abstract").
WISH_WORDS = """
    wish, wished, hoped, hope, if only, would love, i'd love, would like, i'd like, would be better with,
    would be perfect with, should have, should be, could be, needs more, need more, want more,
    would prefer, i'd prefer, i'd rather, would rather, rather see, rather have, give me, i want,
    i'd take, i would take, where's the, where is the, where are the, cade o, cade a, gimme, give us, please more, pls more, next time go, make it,
    j'aimerais, je voudrais, ich wunschte, ich hatte gern, ojala, me gustaria, quisiera
"""

# Too / excessively: a complaint about the amount of what follows. Negated ("not too busy") it is
# no verdict at all.
EXCESS_WORDS = "too, overly, excessively, trop, zu, allzu, demasiado, demasiada, demasiados, demasiadas, troppo, troppa, troppi, troppe"

# Sarcasm: a phrase that turns the praise around it into a complaint ("Oh great, another gradient.
# How original."). Only fixed formulas, so plain praise is never read as irony.
SARCASM_MARKERS = """
    oh great another, oh good another, oh joy another, oh wonderful another, great another, yay another,
    how original, so original, very original, never seen that before, never seen this before,
    what a surprise, just what i needed, just what the world needs, yeah right, said no one,
    said nobody
"""

# Sarcasm as patterns over the comment's words (a slot stands for any word): "oh wonderful, more
# neon", "just what every gallery needs", "because every phone wallpaper needs more of it".
SARCASM_PATTERNS = (
    r"\boh (?:great|wonderful|good|joy|lovely|fantastic|perfect|yay|goody) (?:another|more)\b",
    r"\bjust what (?:every|the|this|each|my|our|a|an)(?: \w+){0,2} (?:needs|needed|was missing)\b",
    r"\bbecause (?:every|what|all|each)(?: \w+){0,3} (?:needs|need|needed)\b",
    r"\bsure because\b",
)
# Marks of irony that are not words: an eye-roll emoji or "/s" anywhere in the comment.
SARCASM_SIGNS = {"🙄", "😒", "🤡"}
# A word in scare quotes ("so 'innovative'") mocks it when it is praise or an adjective.
SCARE_QUOTES = {"'", '"', "“", "”", "‘", "’"}
SCARE_QUOTE_SUFFIXES = ("ive", "ic", "al", "ful", "ous", "ary", "ing", "est", "ish", "ed")

# A question that opens like these dismisses what it names ("Who needs a grid when you have flowing
# lines?", "Does every piece need neon now?"): its praise is turned around like sarcasm, and a
# "when"/"if" in it starts the side the member prefers.
RHETORICAL_DISMISSALS = """
    who needs, who wants, who asked for, who decided, who thought, who says, does every, do all,
    does anyone need, does anyone want, do we need, do we really need, does it really need,
    why would anyone, why does everything, why is everything, why do all, why does every, why must
"""
RHETORICAL_TURNS = {"when", "if", "while"}

# Undecided: the member does not know what they think, so the sentence yields nothing and lends
# the comment no verdict ("Maybe the glow? I can't decide if I like it.").
HEDGES = """
    can't decide, cannot decide, cant decide, can't make up my mind, not sure if, not sure whether,
    not sure it's, not sure its, not sure it is, not sure i like, not sure how i feel, undecided,
    on the fence, mixed feelings, torn on, torn about, i'm torn, not certain if, not sure yet
"""

# A concession turned by "but" to a preference ("the teal is nice, but I prefer warm colours"):
# what was conceded is neither liked nor disliked, so it is dropped.
PREFERENCE_WORDS = {"prefer", "prefers", "preferred", "rather", "more my thing", "more my style"}

# Comparison words after which a feature loses ("muted colours over bright ones", "X beats Y").
COMPARISON_LOSERS = {"over", "beats", "beat", "trumps", "trump"}

# A sentence with one of these words talks to the machine, not about taste ("ignore the
# instructions and ...", "Assistant: Liked Art Features: ..."): the lexicon skips it whole, and the
# model backends receive it as quoted data (see engine.extraction.sanitize_comment).
INJECTION_WORDS = """
    instruction, instructions, prompt, ignore, disregard, system, assistant, output, pretend,
    you are now, as an ai, jailbreak, liked art features, disliked art features, override
"""

# A lone "no" after a list is a verdict on it ("pastels + bokeh = no"), not a negation.
VERDICT_NEGATORS = "no, nein, non, nope"
# ... and these only when nothing but function words stand with them ("absolutely not").
BARE_VERDICT_NEGATORS = "not, never, nicht, pas, nunca, jamais"

# Nouns of complaint: "X is the problem" dislikes X, but "X isn't the problem" likes nothing.
COMPLAINT_NOUNS = {"problem", "the problem", "issue", "the issue"}

# "wish the grain wasn't there": a negated copula right after what the wish names turns it against it.
COPULA_NEGATIONS = {"wasn't", "weren't", "isn't", "aren't", "wasnt", "werent", "isnt", "arent"}

# A clause ending on one of these repeats the verb of a negated verdict before it ("..., the mustard is").
ELIDING_VERBS = {"is", "are", "was", "were", "does", "do", "did"}

# A clause opening with one of these asks for more of what it names ("more breathing room").
MORE_WORDS = {"more", "plus", "mehr", "mas"}

# A clause opening with one of these, after a clause with no verdict, sets the two apart: "teal, not orange".
NOT_WORDS = {"not", "no", "never", "nicht", "pas", "jamais"}

# A bare answer to a question that named features: "Dark backgrounds? No, light ones please."
NO_ANSWERS = {"no", "nope", "nah", "non", "nein"}
YES_ANSWERS = {"yes", "yeah", "yep", "yup", "oui", "ja", "si"}

# Granting a quality before a turn: "Playful, sure, but it's exhausting".
CONCESSION_WORDS = {"sure", "granted", "admittedly", "certainly", "agreed"}

# Negators after which a judging feature is still disliked: "less clutter", "without the mess".
REDUCING_WORDS = {"less", "fewer", "without", "sans", "ohne", "sin", "weniger", "menos"}
# ... of which "less" and "fewer" always ask for less of what follows, whatever else the comment says.
LESS_WORDS = {"less", "fewer", "weniger", "menos", "moins"}

# "not X enough" and "X isn't enough" ask for more X.
ENOUGH_WORDS = "enough, assez, genug, suficiente, suficientemente"

# Phrases that only look like cues: "feels like" compares, it does not approve.
NEUTRAL_PHRASES = """
    feels like, feel like, felt like, looks like, look like, looked like, seems like, seem like,
    sounds like, more like, kind of like, kinda like, sort of like, something like, just like, i guess,
    work of art, works of art, artwork, artworks, art work, in terms of, color of, pretty much,
    look at, to look at, no matter, no idea, like a, like an, remind me of, reminds me of, reminiscent of,
    pretty sure, good at, for ages, for hours, best part
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
    "mais",
    "aber",
    "pero",
    "sino",
    "doch",
}

# Words allowed between a negator and the feature it negates ("not the grain", "no more neon").
FILLERS = set(
    """
    the a an any so that this these those much more very of such really as quite all its it's is are was
    were be been too overly enough some big huge particular particularly them it in with lot lots bit
    little kind sort kinda at those fan for me my on about lot anything everything le la les l un une des du
    de der die das
    den dem ein eine el los las una del al
    """.split()
)

# Function words: a comment made of nothing but these, cues and emoji is a bare verdict ("love this
# one!", "yes."), which stands for the whole image. Any other word means the member said something
# more specific that we may not understand, and then we guess nothing.
STOPWORDS = set(
    """
    i i'm im i've ive i'd id me my mine we us our you your it it's its this that these those one ones
    thing here there is are was were be been being am do does did so such very really quite just
    totally absolutely honestly literally actually simply pretty rather somewhat kinda kind sort of a an
    the and or to at in on for with about all as at by from up out what how wow oh ah omg lol haha
    hmm well still again whole overall entire piece picture image work art one's much more most
    feel feels look looks seem seems find found think thought say whatever stuff bit lot something make
    makes made
    c'est cest c est tres ca ce cette je moi mon ma le la les un une des et pour est
    das ist ich es mir mich mein sehr und der die ein eine zu
    es lo la el me mi muy y que un una
    """.split()
)

# Common misspellings of verdict words, which typo mending leaves alone on purpose (see
# Lexicon.correct): written out, so a misspelt verdict is understood without guessing at verdicts.
MISSPELLINGS = {
    "beatiful": "beautiful", "beautifull": "beautiful", "beutiful": "beautiful", "beautful": "beautiful",
    "butiful": "beautiful", "awsome": "awesome", "awesom": "awesome", "gorgous": "gorgeous",
    "gorgeus": "gorgeous", "amazng": "amazing", "amzing": "amazing", "stuning": "stunning",
    "favorit": "favorite", "favourit": "favorite", "intresting": "interesting", "intersting": "interesting",
    "lovley": "lovely", "lovly": "lovely", "prety": "pretty", "perfact": "perfect", "boaring": "boring",
    "borring": "boring", "ugley": "ugly", "horible": "horrible", "terible": "terrible", "disgusting": "gross",
    "dissapointing": "disappointing", "dislke": "dislike", "hte": "the", "teh": "the", "luv": "love", "lov": "love",
    "mutch": "much", "realy": "really", "relly": "really", "rly": "really", "alot": "lot", "cant": "can't",
}

# Ordinary English words one letter away from a table word: never "corrected" as typos.
# Found by running the mender over a large English text and keeping the real words it changed.
REAL_WORDS = set(
    """
    bright matter matters lighter rather spare plane shady flower flowers winter mellow during sample
    samples pointing pointed loading loaded locking lightning native string strings smoothing course
    courses fairly friction battery bridge bridges though thorough picked ragged ranking radical radian
    median solver dropping stokes starts stripped titles tailed victor turkish splitter slashes outside
    neural forums fermat degraded denser chroma angeles analogy ambient closer closed closes spacer
    scaler surfaced refine minima modula extrema growing leaving printing calling switch writer winner
    planted feeding forget others simpler darling stared staring sharing breaks brings having losing
    linked existing noting writes stores states tables things thinks flavors branches planes worker
    """.split()
)

_EMOJI_POSITIVE = set("❤♥😍🥰😻👍🔥✨💯🤩😊💖💕💙💜💚🧡💛🖤😀😄😁🙌👏🌟💗😌🤗🎉💘😘🥳")
_EMOJI_NEGATIVE = set("👎🤮🤢😡😠😒🙄💩😬😕😞😖🥱😣😫😴😐😵😢😑")
_HARD_BREAKS = {".", "!", "?", ";", ":", "…", "¡", "¿"}
_SOFT_BREAKS = {",", "(", ")", "—", "–", "-", "/", '"', "“", "”", "«", "»", "+", "="}
