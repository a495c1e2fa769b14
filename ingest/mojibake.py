def repair_gbk_mojibake(text):  # placeholder until the real rule lands
    return text, 0, 0
