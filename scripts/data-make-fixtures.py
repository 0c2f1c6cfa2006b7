#!/usr/bin/env python3
"""Writes the small VOC and COCO fixtures in test/fixtures/data/ (pip install pillow).

Images are encoded by Pillow, independently of the JS decoders under test:
baseline, progressive and greyscale JPEG; RGB, palette and 16-bit PNG. Each
object is a solid rectangle exactly on its box, so tests can check that boxes
and pixels line up after decoding and resizing.
"""
import json
import os

from PIL import Image, ImageDraw

ROOT = os.path.join(os.path.dirname(__file__), '..', 'test', 'fixtures', 'data')
COLOURS = {'cat': (230, 40, 40), 'dog': (40, 200, 40), 'person': (40, 40, 230)}


def canvas(w, h, objects):
    img = Image.new('RGB', (w, h), (128, 128, 128))
    d = ImageDraw.Draw(img)
    for name, (x1, y1, x2, y2) in objects:  # continuous box -> pixels x1..x2-1
        d.rectangle([x1, y1, x2 - 1, y2 - 1], fill=COLOURS[name])
    return img


def voc_xml(name, w, h, objects, depth=3):
    objs = ''.join(
        f"""  <object>
    <name>{n}</name>
    <pose>Unspecified</pose>
    <truncated>0</truncated>
    <difficult>{int(diff)}</difficult>
    <bndbox>
      <xmin>{x1 + 1}</xmin>
      <ymin>{y1 + 1}</ymin>
      <xmax>{x2}</xmax>
      <ymax>{y2}</ymax>
    </bndbox>
  </object>
""" for n, (x1, y1, x2, y2), diff in objects)
    return f"""<annotation>
  <folder>VOC2007</folder>
  <filename>{name}.jpg</filename>
  <source><database>kdet fixture</database></source>
  <size>
    <width>{w}</width>
    <height>{h}</height>
    <depth>{depth}</depth>
  </size>
  <segmented>0</segmented>
{objs}</annotation>
"""


def write(path, text):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, 'w') as f:
        f.write(text)


def voc():
    root = os.path.join(ROOT, 'voc')
    images = {
        '000001': (64, 48, [('cat', (4, 6, 24, 30), False), ('dog', (36, 10, 60, 40), False)], {}),
        '000002': (80, 60, [('person', (10, 10, 30, 50), False), ('cat', (50, 5, 70, 25), True)], {'progressive': True}),
        '000003': (40, 40, [('dog', (8, 8, 32, 32), False)], {'grey': True}),
    }
    for name, (w, h, objs, how) in images.items():
        img = canvas(w, h, [(n, b) for n, b, _ in objs])
        if how.get('grey'):
            img = img.convert('L')
        os.makedirs(os.path.join(root, 'JPEGImages'), exist_ok=True)
        img.save(os.path.join(root, 'JPEGImages', f'{name}.jpg'), quality=95, progressive=how.get('progressive', False))
        write(os.path.join(root, 'Annotations', f'{name}.xml'), voc_xml(name, w, h, objs, 1 if how.get('grey') else 3))
    write(os.path.join(root, 'ImageSets', 'Main', 'trainval.txt'), '000001\n000002\n')
    write(os.path.join(root, 'ImageSets', 'Main', 'test.txt'), '000003\n')
    bad = os.path.join(root, 'malformed')
    good = voc_xml('x', 10, 10, [('cat', (1, 1, 5, 5), False)])
    write(os.path.join(bad, 'unclosed.xml'), good.replace('</bndbox>', '', 1))
    write(os.path.join(bad, 'bad-number.xml'), good.replace('<xmax>5</xmax>', '<xmax>five</xmax>'))
    write(os.path.join(bad, 'no-bndbox.xml'), good.replace('<bndbox>', '<box>').replace('</bndbox>', '</box>'))
    write(os.path.join(bad, 'bad-difficult.xml'), good.replace('<difficult>0</difficult>', '<difficult>2</difficult>'))
    write(os.path.join(bad, 'no-size.xml'), good.replace('<width>10</width>', ''))
    write(os.path.join(bad, 'inverted.xml'), good.replace('<xmin>2</xmin>', '<xmin>9</xmin>'))


def coco():
    root = os.path.join(ROOT, 'coco')
    os.makedirs(os.path.join(root, 'images'), exist_ok=True)
    spec = [  # id, file, w, h, [(name, box, crowd)]
        (11, 'a.png', 64, 48, [('cat', (4, 6, 24, 30), 0), ('dog', (36, 10, 60, 40), 0)]),
        (5, 'b.jpg', 50, 40, [('dog', (5, 5, 25, 35), 0), ('dog', (30, 2, 48, 20), 1)]),
        (8, 'c.png', 32, 32, []),
    ]
    cats = {'cat': 3, 'dog': 7}
    images, anns, ann_id = [], [], 1
    for img_id, file, w, h, objs in spec:
        img = canvas(w, h, [(n, b) for n, b, _ in objs])
        if file == 'c.png':
            img = img.convert('P', palette=Image.ADAPTIVE, colors=8)
        img.save(os.path.join(root, 'images', file), quality=95)
        images.append({'id': img_id, 'file_name': file, 'width': w, 'height': h})
        for n, (x1, y1, x2, y2), crowd in objs:
            anns.append({'id': ann_id, 'image_id': img_id, 'category_id': cats[n],
                         'bbox': [x1, y1, x2 - x1, y2 - y1], 'area': (x2 - x1) * (y2 - y1), 'iscrowd': crowd})
            ann_id += 1
    # 16-bit greyscale PNG, decoded but not annotated.
    Image.new('I;16', (8, 8), 40000).save(os.path.join(root, 'images', 'grey16.png'))
    data = {'info': {'description': 'kdet fixture'}, 'images': images, 'annotations': anns,
            'categories': [{'id': 7, 'name': 'dog', 'supercategory': 'animal'},
                           {'id': 3, 'name': 'cat', 'supercategory': 'animal'}]}
    write(os.path.join(root, 'annotations.json'), json.dumps(data, indent=1) + '\n')


if __name__ == '__main__':
    voc()
    coco()
